"""The one runner of training jobs: state file, fingerprint, reuse, resume, torchrun, history.

Every training process of the cookbook goes through here, ms-swift's (cookbook.train.launcher)
and the cookbook's own offline KD trainer (cookbook.kd.trainer) alike. A job owns a fixed
output folder, and ``<output>/cookbook_job.json`` records the job's fingerprint: its
parameters, the content of its data files and the files of its starting model. Running
the same job again

* reuses the result when it finished (nothing is trained twice),
* resumes from the last complete ``checkpoint-N`` when it was interrupted,
* starts afresh (after removing the old folder) when the parameters, data or model changed.

Both trainers write ``checkpoint-N/trainer_state.json`` last, so a folder cut short by a
kill has none and is skipped, and both append one JSON line per logging step to
``<output>/logging.jsonl`` with ``"global_step/max_steps": "N/M"`` (ms-swift's key):
:func:`read_history` reads either.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cookbook import procs
from cookbook.io import atomic_write_json, sha256_tree
from cookbook.paths import PACKAGE_DIR
from cookbook.run import fingerprint

STATE_FILE = "cookbook_job.json"
HISTORY_FILE = "logging.jsonl"
# Files of a checkpoint that resuming needs besides the weights (HF Trainer's names; ours too).
RESUME_FILES = ("trainer_state.json",)


class TrainingFailed(RuntimeError):
    """A training process exited with a non-zero code; the message carries the code and its own error."""

    def __init__(self, message: str, returncode: int, log: Path | None):
        super().__init__(message)
        self.returncode, self.log = returncode, log


@dataclass
class Outcome:
    result: Path  # what the job produced: a checkpoint or a model folder
    seconds: float  # wall time of the training (of the original run when reused)
    resumed_from: Path | None = None
    reused: bool = False


# ---------------------------------------------------------------- what a job depends on

def job_fingerprint(params, data: Sequence[str | Path | None] = (), model: str | Path | None = None) -> str:
    """Parameters + the content of each data file or folder + the starting model's files.

    The model's files count by name, size and modification time, not by content: hashing a
    16 GB checkpoint at every run would take a minute, and a retrained or replaced model at
    the same path changes sizes or times. A hub id (no such path) counts by its name alone.
    """
    parts: dict = {"params": params, "data": [_content(d) for d in data]}
    if model is not None:
        path = Path(model)
        parts["model"] = sorted((str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns)
                                for p in path.rglob("*") if p.is_file()) if path.is_dir() else str(model)
    return fingerprint(parts)


def _content(path: str | Path | None):
    """A data file's or folder's content hash; a path that does not exist counts by its name."""
    if path is None or not Path(path).exists():
        return None if path is None else str(path)
    return sha256_tree(path)


# ---------------------------------------------------------------- reuse, resume, start afresh

def run_resumable(out: Path, fp: str, label: str, train: Callable[[Path | None], Path],
                  command: str = "") -> Outcome:
    """Run ``train(resume_from)`` in ``out`` unless a finished run of the same fingerprint is there.

    ``train`` gets the last complete checkpoint (None: start from the beginning) and returns
    what it produced.
    """
    out = Path(out)
    state_path = out / STATE_FILE
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    if not lead_node():
        return _follow(out, fp, train)
    if state.get("fingerprint") not in (None, fp) or (not state and out.exists() and any(out.iterdir())):
        _say(f"{label}: the parameters, data or model changed since {out} was written; starting afresh")
        shutil.rmtree(out)
        state = {}
    if state.get("finished") and Path(state.get("result", "")).exists():
        _say(f"{label}: already trained with these parameters, data and model; reusing {state['result']}")
        return Outcome(Path(state["result"]), state.get("seconds", 0.0), reused=True)
    out.mkdir(parents=True, exist_ok=True)
    done = checkpoints(out)
    resume = done[-1] if done else None
    atomic_write_json(state_path, {"fingerprint": fp, "command": command, "finished": False,
                                   "resume_from": str(resume) if resume else None})
    if resume:
        _say(f"{label}: resuming from {resume.name} (an earlier run was interrupted)")
    t0 = time.time()
    result = Path(train(resume))
    seconds = round(time.time() - t0, 1)
    atomic_write_json(state_path, {"fingerprint": fp, "command": command, "finished": True, "result": str(result),
                                   "seconds": seconds, "resumed_from": str(resume) if resume else None})
    return Outcome(result, seconds, resumed_from=resume)


def _follow(out: Path, fp: str, train: Callable[[Path | None], Path], wait: float = 600.0) -> Outcome:
    """A job across machines, on a node other than node 0. The output folder is shared (NAS, OSS,
    CPFS) and node 0 alone owns it: it decides (reuse, resume, start afresh, which may empty the
    folder), writes the state file, saves the checkpoints. This node waits for that decision in
    the state file, follows it, and writes nothing there but its own log."""
    state_path, deadline = out / STATE_FILE, time.time() + wait
    while True:
        state = json.loads(state_path.read_text()) if state_path.exists() else {}
        if state.get("fingerprint") == fp and (state.get("finished") or "resume_from" in state):
            break
        if time.time() > deadline:
            raise TimeoutError(f"node {nodes()[1]}: node 0 wrote no state for this job in {out / STATE_FILE} "
                               f"within {wait:.0f} s (is the output folder shared between the machines?)")
        time.sleep(0.5)
    if state.get("finished"):
        return Outcome(Path(state["result"]), state.get("seconds", 0.0), reused=True)
    done = checkpoints(out)  # node 0's choice: its state may be an interrupted run's, older than the files
    resume = done[-1] if done else None
    t0 = time.time()
    result = Path(train(resume))
    return Outcome(result, round(time.time() - t0, 1), resumed_from=resume)


def checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete ``checkpoint-N`` folders, oldest first (a folder cut short by a kill is skipped)."""
    found = []
    for p in Path(output_dir).glob("checkpoint-*"):
        suffix = p.name.split("-", 1)[1]
        if p.is_dir() and suffix.isdigit() and all((p / f).exists() for f in RESUME_FILES):
            found.append((int(suffix), p))
    return [p for _, p in sorted(found)]


def read_history(output_dir: str | Path, upto: int | None = None) -> list[dict]:
    """The values logged at each step (``logging.jsonl``), each with an integer ``step``."""
    path = Path(output_dir) / HISTORY_FILE
    rows = []
    if not path.exists():
        return rows
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line being written right now
        step = _step(row)
        if step is not None and "train_runtime" not in row and (upto is None or step <= upto):
            rows.append({**row, "step": step})
    # A resumed run logs its steps again from the checkpoint on: keep the newest value per step.
    by_step = {r["step"]: r for r in rows}
    return [by_step[s] for s in sorted(by_step)]


def _step(row: dict) -> int | None:
    progress = row.get("global_step/max_steps")
    if isinstance(progress, str) and "/" in progress:
        return int(progress.split("/")[0])
    return None


# ---------------------------------------------------------------- processes

def nodes() -> tuple[int, int]:
    """(NNODES, NODE_RANK) as a scheduler sets them for a job across machines (PAI-DLC's and
    torchrun's names); (1, 0) on one machine. MASTER_ADDR and MASTER_PORT come with them."""
    try:
        return int(os.environ.get("NNODES", "1")), int(os.environ.get("NODE_RANK", "0"))
    except ValueError:
        raise ValueError(f"NNODES={os.environ.get('NNODES')!r} and NODE_RANK={os.environ.get('NODE_RANK')!r} "
                         "must be integers (the scheduler's job environment)") from None


def lead_node() -> bool:
    """This machine is node 0, or the only one."""
    return nodes()[1] == 0


def log_path(out: Path, name: str) -> Path:
    """``out/name``; on node N > 0 of a job across machines ``out/<stem>.nodeN<suffix>``, so that the
    nodes' logs do not overwrite each other in a shared output folder."""
    rank = nodes()[1]
    return out / name if rank == 0 else out / f"{Path(name).stem}.node{rank}{Path(name).suffix}"


def use_torchrun(nproc: int, deepspeed: bool = False) -> bool:
    """Several processes, several machines, or DeepSpeed: DeepSpeed started without torchrun's
    RANK / WORLD_SIZE falls back to MPI discovery, which fails without mpi4py."""
    return nproc > 1 or deepspeed or nodes()[0] > 1


def python_argv(nproc: int, module: str, args: Sequence[str], env: dict[str, str],
                deepspeed: bool = False) -> list[str]:
    """``python -m module args``, under torchrun when :func:`use_torchrun` (one process per device,
    ``--nnodes`` / ``--node_rank`` from the scheduler's environment on several machines).

    torchrun gets the module's file, as `swift sft` hands it over, so that ms-swift's and the
    cookbook's trainers start the same way.
    """
    import sys

    if not use_torchrun(nproc, deepspeed):
        return [sys.executable, "-m", module, *args]
    script = importlib.util.find_spec(module).origin
    nnodes, node_rank = nodes()
    across = ["--nnodes", str(nnodes), "--node_rank", str(node_rank)] if nnodes > 1 else []
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), *across,
            "--master_addr", env.get("MASTER_ADDR", "127.0.0.1"),
            "--master_port", env.get("MASTER_PORT") or str(procs.free_port()), script, *args]


def training_env(nproc: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a training process (offline settings as this process has them)."""
    env = procs.child_env() | {"PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    # The project on the path: torchrun starts its ranks from a file, not from this interpreter.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_DIR.parent), env.get("PYTHONPATH")) if p)
    # ms-swift defaults MASTER_PORT to 29500 even for one process: two jobs on one machine would clash.
    env.setdefault("MASTER_PORT", str(procs.free_port()))
    if nproc > 1 and "OMP_NUM_THREADS" not in os.environ:
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    if nproc > 1 and "NNODES" not in os.environ:
        # One machine: the processes meet on loopback (gloo would otherwise pick the
        # address the host name resolves to).
        env.setdefault("MASTER_ADDR", "127.0.0.1")
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    return env | (extra or {})


def run_logged(argv: Sequence[str], log_path: Path, env: dict, cwd: Path,
               tick: Callable[[bool], None] | None = None, poll: float = 1.0) -> int:
    """Run ``argv`` in its own process group, output appended to ``log_path``; returns the exit code.

    An interrupt (the notebook's stop button) stops the whole group, torchrun's workers
    included, and re-raises: the checkpoints written so far stay for the resume.
    """
    return procs.wait(procs.start(argv, log_path=log_path, env=env, cwd=cwd), poll=poll, tick=tick)


def failure(what: str, code: int, log: Path, command: str = "") -> TrainingFailed:
    how = f"was killed by {_signal_name(-code)}" if code < 0 else f"exited with code {code}"
    shown = f"command: {command}\n" if command else ""
    return TrainingFailed(f"{what} {how}.\n{shown}its error (end of {log}):\n{error_excerpt(log)}", code, log)


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


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


def _say(message: str) -> None:
    print(message, flush=True)
