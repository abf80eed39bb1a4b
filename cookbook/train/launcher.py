"""Launch ms-swift training as a subprocess: live progress, real errors, resume, several processes.

Why a subprocess (``python -m swift.cli.sft ...``) rather than ms-swift's Python API
(``sft_main(args)``) inside the notebook's kernel:

* several processes (one per GPU) need torchrun anyway, and the one-process path should be
  the same code path, not a second one;
* a crash, an out-of-memory kill or a hung NCCL job takes the subprocess down, not the
  kernel with the reader's state; GPU memory is released when it exits, so the next
  stage (or ``swift deploy``) starts on an empty GPU;
* success and failure are ms-swift's own exit code; the error shown is ms-swift's own
  traceback, read from the end of its log (we never guess failure by grepping the log);
* the command is the same one a reader runs in a terminal: :attr:`TrainJob.shell` shows it.

Progress comes from ``<output_dir>/logging.jsonl``, which ms-swift appends at every logging
step (loss, learning rate, rewards...): a tqdm bar in the notebook follows it, and the loss
curve is drawn from the same values afterwards.

Reuse, resume and start afresh are cookbook.jobs's, as for every training job: a fixed
output folder (``--add_version false``), a fingerprint of the flags, the data and the
starting model, and ``--resume_from_checkpoint`` from the last complete checkpoint
(weights, optimizer, scheduler and data position).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from cookbook import jobs, procs
from cookbook.io import sha256_file
from cookbook.jobs import TrainingFailed, checkpoints, error_excerpt, read_history  # noqa: F401  (train's names)
from cookbook.train.args import shell_command

LOG_FILE = "swift.log"
DATA_LINKS = "data-links"  # links to the job's data files, named by content (see content_named_data)


@dataclass
class TrainJob:
    """One ms-swift command: ``subcommand`` is "sft", "rlhf" or "export"."""

    subcommand: str
    flags: list[str]
    output_dir: Path
    nproc: int = 1
    label: str = ""
    env: dict[str, str] = field(default_factory=dict)
    module: str | None = None  # default swift.cli.<subcommand>; tests put a stand-in here

    def __post_init__(self):
        self.output_dir = Path(self.output_dir).resolve()
        self.label = self.label or self.output_dir.name

    @property
    def shell(self) -> str:
        """The terminal line that runs the same job (``NPROC_PER_NODE=2 swift sft ...``)."""
        return shell_command(self.subcommand, procs.hide_secrets(self.flags), self.nproc)

    def argv(self, extra: Sequence[str] = ()) -> list[str]:
        """The interpreter command: the ms-swift module itself, under torchrun for several processes,
        several machines or DeepSpeed (cookbook.jobs.use_torchrun)."""
        # The training process's environment: across machines, the scheduler's MASTER_ADDR / MASTER_PORT
        # (self.env alone would name 127.0.0.1 and a port of this node's own choosing).
        env = jobs.training_env(self.nproc, self.env)
        return jobs.python_argv(self.nproc, self.module or f"swift.cli.{self.subcommand}", [*self.flags, *extra],
                                env, deepspeed=self.flag("deepspeed") is not None)

    def flag(self, name: str) -> str | None:
        try:
            return self.flags[self.flags.index(f"--{name}") + 1]
        except (ValueError, IndexError):
            return None

    def fingerprint(self) -> str:
        """Flags + the content of the dataset file + the starting model's files (cookbook.jobs)."""
        return jobs.job_fingerprint({"subcommand": self.subcommand, "flags": self.flags, "nproc": self.nproc},
                                    data=[self.flag("dataset")], model=self.flag("model"))


@dataclass
class TrainResult:
    checkpoint: Path  # the last checkpoint: a loadable model folder (full) or a LoRA adapter
    output_dir: Path
    history: list[dict]  # what ms-swift logged, one dict per logging step
    seconds: float  # wall time of the training (of the original launch when reused)
    resumed_from: Path | None = None
    reused: bool = False  # finished earlier with the same flags, data and model: not trained again
    log: Path | None = None

    @property
    def steps(self) -> int:
        return max((int(h.get("step", 0)) for h in self.history), default=0)


def content_named_data(flags: Sequence[str], folder: Path) -> list[str]:
    """``flags`` with each ``--dataset``/``--val_dataset`` file replaced by a link named by its content.

    ms-swift reads a JSONL file through `datasets`, which caches the parsed copy under a key
    made of the file's path and modification time, not its content: a file rewritten at
    the same path with the same size and time (cp -p, rsync -a) was read stale
    (tests/test_train_data_cache.py). A link ``<stem>-<sha256[:16]><suffix>`` makes that key
    follow the content; ms-swift reads the file itself through it. Hub ids pass unchanged.
    """
    out, current = [], None
    for arg in flags:
        if arg.startswith("--"):
            current = arg
        elif current in ("--dataset", "--val_dataset") and Path(arg).is_file():
            path = Path(arg).resolve()
            link = folder / f"{path.stem}-{sha256_file(path)[:16]}{path.suffix}"
            if not link.is_symlink() or link.resolve() != path:
                link.parent.mkdir(parents=True, exist_ok=True)
                link.unlink(missing_ok=True)
                try:
                    link.symlink_to(path)
                except FileExistsError:  # another node of the same job, in a shared folder, just made it
                    pass
            arg = str(link)
        out.append(arg)
    return out


# ---------------------------------------------------------------- running

def launch(job: TrainJob, progress: bool = True, metric: str | None = None) -> TrainResult:
    """Run the job (or reuse / resume it); returns the last checkpoint. Raises TrainingFailed."""
    out = job.output_dir
    log = jobs.log_path(out, LOG_FILE)

    def train(resume: Path | None) -> Path:
        extra = ["--resume_from_checkpoint", str(resume)] if resume else []
        run = replace(job, flags=content_named_data(job.flags, out / DATA_LINKS))
        code = jobs.run_logged(run.argv(extra), log, env=jobs.training_env(job.nproc, job.env), cwd=out,
                               tick=_Progress(job.label, out, metric) if progress else None)
        if code != 0:
            raise _failed(job, code, log)
        return _final_checkpoint(out)

    done = jobs.run_resumable(out, job.fingerprint(), job.label, train, command=job.shell)
    return TrainResult(done.result, out, read_history(out), done.seconds, resumed_from=done.resumed_from,
                       reused=done.reused, log=log)


def run_swift(subcommand: str, flags: Sequence[str], log_path: Path, cwd: Path | None = None,
              module: str | None = None) -> None:
    """A short ms-swift command (``swift export``...): fails with its exit code and error."""
    job = TrainJob(subcommand, list(flags), cwd or log_path.parent, module=module)
    code = jobs.run_logged(job.argv(), log_path, env=jobs.training_env(1, job.env), cwd=job.output_dir)
    if code != 0:
        raise _failed(job, code, log_path)


def _failed(job: TrainJob, code: int, log: Path) -> TrainingFailed:
    return jobs.failure(f"`swift {job.subcommand}` ({job.label})", code, log, command=job.shell)


def _final_checkpoint(out: Path) -> Path:
    # ms-swift's last logging.jsonl line names the checkpoint it saved last.
    path = out / "logging.jsonl"
    if path.exists():
        for line in reversed(path.read_text(encoding="utf-8").splitlines()):
            try:
                last = json.loads(line).get("last_model_checkpoint")
            except json.JSONDecodeError:
                continue
            if last and Path(last).exists():
                return Path(last).resolve()
    done = checkpoints(out)
    if not done:
        raise TrainingFailed(f"ms-swift exited with code 0 but wrote no checkpoint in {out}", 0, out / LOG_FILE)
    return done[-1]


def _say(message: str) -> None:
    print(message, flush=True)


class _Progress:
    """A tqdm bar over optimizer steps, fed by logging.jsonl while ms-swift runs."""

    def __init__(self, label: str, out: Path, metric: str | None):
        self.label, self.path, self.metric = label, out / "logging.jsonl", metric
        self.offset = self.path.stat().st_size if self.path.exists() else 0
        self.bar = None
        self.started = time.time()
        _say(f"{label}: ms-swift is starting (loading the model, encoding the data)...")

    def __call__(self, final: bool) -> None:
        from tqdm import tqdm  # plain tqdm: renders in JupyterLab and in papermill outputs

        if self.path.exists():
            with open(self.path, encoding="utf-8") as f:
                f.seek(self.offset)
                chunk = f.read()
            complete = chunk[: chunk.rfind("\n") + 1]  # a half-written line waits for the next poll
            self.offset += len(complete.encode("utf-8"))
            for line in complete.splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                progress = row.get("global_step/max_steps")
                if not isinstance(progress, str) or "/" not in progress or "train_runtime" in row:
                    continue
                step, total = (int(x) for x in progress.split("/"))
                if self.bar is None:
                    self.bar = tqdm(total=total, desc=self.label, unit="step", mininterval=0.5,
                                    dynamic_ncols=True, file=sys.stdout)
                self.bar.update(max(0, step - self.bar.n))  # a resumed run starts part-way
                self.bar.set_postfix_str(self._postfix(row), refresh=False)
        if final and self.bar is not None:
            self.bar.close()

    def _postfix(self, row: dict) -> str:
        keys = [self.metric] if self.metric else []
        keys += ["loss", "reward", "rewards/margins", "learning_rate"]
        shown = []
        for k in dict.fromkeys(keys):
            v = row.get(k)
            if isinstance(v, int | float):
                shown.append(f"{k.split('/')[-1]} {v:.4g}")
        return ", ".join(shown[:3])
