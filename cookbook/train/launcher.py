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

Resume: every job has a fixed output folder (``--add_version false``) and a fingerprint
of its flags, data and starting model. Running the same job again

* reuses the result when it finished (nothing is trained twice),
* resumes from the last complete ``checkpoint-N`` when it was interrupted
  (``--resume_from_checkpoint``: weights, optimizer, scheduler and data position),
* starts afresh (after removing the old folder) when the flags, data or model changed.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from cookbook.io import atomic_write_json, sha256_file
from cookbook.run import fingerprint
from cookbook.teacher.server import child_env, free_port
from cookbook.train.args import shell_command

STATE_FILE = "cookbook_job.json"
LOG_FILE = "swift.log"
DATA_LINKS = "data-links"  # links to the job's data files, named by content (see content_named_data)
_LIVE: set[subprocess.Popen] = set()
# Files of a checkpoint that resuming needs besides the weights (HF Trainer's names).
_RESUME_FILES = ("trainer_state.json",)
_SECRET_FLAGS = {"--hub_token", "--swanlab_token", "--api_key"}


class TrainingFailed(RuntimeError):
    """ms-swift exited with a non-zero code; the message carries the code and its own error."""

    def __init__(self, message: str, returncode: int, log: Path | None):
        super().__init__(message)
        self.returncode, self.log = returncode, log


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
        return shell_command(self.subcommand, _hide_secrets(self.flags), self.nproc)

    def argv(self, extra: Sequence[str] = ()) -> list[str]:
        """The interpreter command: the ms-swift module itself, under torchrun when nproc > 1."""
        module = self.module or f"swift.cli.{self.subcommand}"
        flags = [*self.flags, *extra]
        if self.nproc == 1:
            return [sys.executable, "-m", module, *flags]
        script = importlib.util.find_spec(module).origin  # what `swift sft` hands to torchrun, too
        return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(self.nproc),
                "--master_addr", self.env.get("MASTER_ADDR", "127.0.0.1"),
                "--master_port", self.env.get("MASTER_PORT") or str(free_port()), script, *flags]

    def flag(self, name: str) -> str | None:
        try:
            return self.flags[self.flags.index(f"--{name}") + 1]
        except (ValueError, IndexError):
            return None


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


# ---------------------------------------------------------------- the job's fingerprint

def job_fingerprint(job: TrainJob) -> str:
    """Flags + the content of the dataset file(s) + the starting model's files (name, size, mtime)."""
    parts: dict = {"subcommand": job.subcommand, "flags": job.flags, "nproc": job.nproc}
    for key in ("dataset", "model"):
        value = job.flag(key)
        path = Path(value) if value else None
        if path and path.is_file():
            parts[key] = sha256_file(path)
        elif path and path.is_dir():
            parts[key] = sorted((str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns)
                                for p in path.rglob("*") if p.is_file())
    return fingerprint(parts)


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
                link.symlink_to(path)
            arg = str(link)
        out.append(arg)
    return out


def checkpoints(output_dir: Path) -> list[Path]:
    """Complete ``checkpoint-N`` folders, oldest first (a folder cut short by a kill is skipped)."""
    found = []
    for p in Path(output_dir).glob("checkpoint-*"):
        suffix = p.name.split("-", 1)[1]
        if p.is_dir() and suffix.isdigit() and all((p / f).exists() for f in _RESUME_FILES):
            found.append((int(suffix), p))
    return [p for _, p in sorted(found)]


def read_history(output_dir: Path) -> list[dict]:
    """The values ms-swift logged (``logging.jsonl``), each with an integer ``step``."""
    path = Path(output_dir) / "logging.jsonl"
    rows = []
    if not path.exists():
        return rows
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line being written right now
        step = _step(row)
        if step is not None and "train_runtime" not in row:
            rows.append({"step": step, **row})
    # A resumed run logs its steps again from the checkpoint on: keep the newest value per step.
    by_step = {r["step"]: r for r in rows}
    return [by_step[s] for s in sorted(by_step)]


def _step(row: dict) -> int | None:
    progress = row.get("global_step/max_steps")
    if isinstance(progress, str) and "/" in progress:
        return int(progress.split("/")[0])
    return None


# ---------------------------------------------------------------- running

def launch(job: TrainJob, progress: bool = True, metric: str | None = None) -> TrainResult:
    """Run the job (or reuse / resume it); returns the last checkpoint. Raises TrainingFailed."""
    out = job.output_dir
    state_path = out / STATE_FILE
    fp = job_fingerprint(job)
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    if state.get("fingerprint") not in (None, fp) or (not state and out.exists() and any(out.iterdir())):
        _say(f"{job.label}: the flags, data or model changed since {out} was written; starting afresh")
        shutil.rmtree(out)
        state = {}
    if state.get("finished") and Path(state.get("checkpoint", "")).exists():
        _say(f"{job.label}: already trained with these flags and data; reusing {state['checkpoint']}")
        return TrainResult(Path(state["checkpoint"]), out, read_history(out), state.get("seconds", 0.0),
                           reused=True, log=out / LOG_FILE)

    out.mkdir(parents=True, exist_ok=True)
    done = checkpoints(out)
    resume = done[-1] if done else None
    extra = ["--resume_from_checkpoint", str(resume)] if resume else []
    atomic_write_json(state_path, {"fingerprint": fp, "command": job.shell, "finished": False})
    if resume:
        _say(f"{job.label}: resuming from {resume.name} (an earlier run was interrupted)")

    t0 = time.time()
    run = replace(job, flags=content_named_data(job.flags, out / DATA_LINKS))
    returncode = run_process(run.argv(extra), out / LOG_FILE, env=_env(job), cwd=out,
                             watch=_Progress(job.label, out, metric) if progress else None)
    seconds = time.time() - t0
    if returncode != 0:
        raise TrainingFailed(_failure_message(job, returncode, out / LOG_FILE), returncode, out / LOG_FILE)
    final = _final_checkpoint(out)
    atomic_write_json(state_path, {"fingerprint": fp, "command": job.shell, "finished": True,
                                   "checkpoint": str(final), "seconds": round(seconds, 1),
                                   "resumed_from": str(resume) if resume else None})
    return TrainResult(final, out, read_history(out), seconds, resumed_from=resume, log=out / LOG_FILE)


def run_swift(subcommand: str, flags: Sequence[str], log_path: Path, cwd: Path | None = None,
              module: str | None = None) -> None:
    """A short ms-swift command (``swift export``...): fails with its exit code and error."""
    job = TrainJob(subcommand, list(flags), cwd or log_path.parent, module=module)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    code = run_process(job.argv(), log_path, env=_env(job), cwd=job.output_dir)
    if code != 0:
        raise TrainingFailed(_failure_message(job, code, log_path), code, log_path)


def run_process(argv: Sequence[str], log_path: Path, env: dict, cwd: Path,
                watch: Callable[[bool], None] | None = None, poll: float = 1.0) -> int:
    """Run ``argv`` in its own process group, output appended to ``log_path``; returns the exit code.

    An interrupt (the notebook's stop button) stops the whole group, torchrun's workers
    included, and re-raises: the checkpoints written so far stay for the resume.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(_hide_secrets(argv))}\n".encode())
        log.flush()
        proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=env, cwd=cwd, start_new_session=True)
    _LIVE.add(proc)
    try:
        while proc.poll() is None:
            if watch:
                watch(False)
            time.sleep(poll)
        if watch:
            watch(True)
        return proc.returncode
    except BaseException:
        _stop(proc)
        if watch:
            watch(True)
        raise
    finally:
        _LIVE.discard(proc)


def _env(job: TrainJob) -> dict[str, str]:
    env = child_env() | {"PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    # ms-swift defaults MASTER_PORT to 29500 even for one process: two jobs on one machine would clash.
    env.setdefault("MASTER_PORT", str(free_port()))
    if job.nproc > 1 and "OMP_NUM_THREADS" not in os.environ:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // job.nproc))
    if job.nproc > 1 and "NNODES" not in os.environ:
        # One machine: the processes meet on loopback (gloo would otherwise pick the
        # address the host name resolves to).
        env.setdefault("MASTER_ADDR", "127.0.0.1")
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    return env | job.env


def _stop(proc: subprocess.Popen, grace: float = 15.0) -> None:
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)  # pgid == pid: start_new_session made it the leader
        except (ProcessLookupError, PermissionError):
            break
        try:
            proc.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue


@atexit.register
def _stop_all() -> None:
    for proc in list(_LIVE):
        _stop(proc, grace=5.0)


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


def _hide_secrets(argv: Sequence[str]) -> list[str]:
    return ["***" if before in _SECRET_FLAGS else a for before, a in zip(["", *argv], argv)]


def _clean_lines(text: str) -> list[str]:
    # tqdm redraws a line with carriage returns: keep what was drawn last.
    return [line.split("\r")[-1].rstrip() for line in text.splitlines()]


def error_excerpt(log_path: Path, max_lines: int = 40) -> str:
    """The end of the log: from the last Python traceback on, or the last lines."""
    try:
        lines = _clean_lines(log_path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return ""
    lines = [ln for ln in lines if ln.strip()]
    starts = [i for i, ln in enumerate(lines) if ln.startswith("Traceback (most recent call last)")]
    excerpt = lines[starts[-1]:] if starts else lines[-25:]
    if len(excerpt) > max_lines:
        excerpt = excerpt[:5] + ["  ..."] + excerpt[-(max_lines - 6):]
    return "\n".join(excerpt)


def _failure_message(job: TrainJob, code: int, log: Path) -> str:
    how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
    return (f"`swift {job.subcommand}` ({job.label}) {how}.\n"
            f"command: {job.shell}\n"
            f"ms-swift's error (end of {log}):\n{error_excerpt(log)}")


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
