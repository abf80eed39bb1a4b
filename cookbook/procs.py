"""Child processes, one way for the whole package: ports, environment, start, stop, secrets.

Training (cookbook.jobs), the local teacher servers (cookbook.teacher.server) and the
evaluation worker (cookbook.eval.runner) all start their children here:

* each child leads its own process group (``start_new_session``), so a stop reaches its
  workers too (torchrun's ranks, vLLM's engine, ms-swift's dataloader workers);
* a child is asked to die with its parent (Linux ``PR_SET_PDEATHSIG``): atexit does not
  run when the kernel or script is killed, and an orphan would hold a core and a port;
* :func:`stop` sends SIGTERM to the group, waits until every member is gone, then SIGKILL;
  it returns only when the group is empty, so the next child finds the port and the GPU free;
* an atexit hook stops every child still registered when the interpreter exits;
* output goes to a log file, never a pipe (a full pipe blocks the child), except where the
  caller reads a pipe to the end itself (the evaluation worker's progress lines);
* :func:`hide_secrets` masks the value after any flag that carries a key, wherever a
  command line is shown or logged;
* before any child starts, :func:`release_gpu` hands back the GPU memory this process keeps
  for models it no longer uses (notebook 04 scores with the teacher in the kernel, then starts
  vLLM and trainers): every stage that starts a server or a trainer gets it, no notebook
  has to remember it.
"""

from __future__ import annotations

import atexit
import gc
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from cookbook import hub

HOST = "127.0.0.1"
# Flags whose value is never shown: ms-swift's, vLLM's (dashes) and the OpenAI-style ones.
SECRET_FLAGS = {"--api_key", "--api-key", "--hub_token", "--hub-token", "--swanlab_token"}
_LIVE: set[subprocess.Popen] = set()


def free_port() -> int:
    """A port nobody listens on now (the child binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def child_env(offline: bool | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """os.environ, plus the hub's offline settings when offline (default: as this process is)."""
    env = dict(os.environ)
    if hub.is_offline() if offline is None else offline:
        env.update(hub.OFFLINE_ENV)
    return env | (extra or {})


def hide_secrets(argv: Sequence[str]) -> list[str]:
    return ["***" if before in SECRET_FLAGS else str(a) for before, a in zip(["", *argv], argv)]


def release_gpu(*objects, say=print) -> dict | None:
    """Give back the GPU memory this process holds for models it is done with; returns what it did.

    Each of ``objects`` is emptied first, whoever else still refers to it: a torch module's
    weights move to the ``meta`` device (the module is unusable after), a dict or list is
    cleared. Then ``gc.collect()`` frees what nothing refers to any more (a model loaded inside a
    function, a finished vLLM engine), and ``torch.cuda.empty_cache()`` returns PyTorch's cached
    blocks to the driver, where another process can have them. What a live variable still holds
    stays: ``del`` it, or pass it here. Called by :func:`start` before every child.

    None where this process never used CUDA (nothing to free; costs nothing, torch is not
    imported for it); else ``{"freed_bytes", "reserved_bytes", "allocated_bytes"}`` (after),
    and one line said when anything was held.
    """
    for obj in objects:
        _empty(obj)
    obj = objects = None  # noqa: F841  (our own references: the collection below may free them)
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    if cuda is None or not cuda.is_initialized():
        return None
    before = cuda.memory_reserved()
    gc.collect()
    cuda.empty_cache()
    report = {"freed_bytes": before - cuda.memory_reserved(), "reserved_bytes": cuda.memory_reserved(),
              "allocated_bytes": cuda.memory_allocated()}
    if before and say:
        held = report["allocated_bytes"]
        say(f"GPU memory: released {report['freed_bytes'] / 2**30:.2f} GiB this process held"
            + (f"; {held / 2**30:.2f} GiB is still in use here (a variable still refers to a model: del it, "
               "or pass it to cookbook.procs.release_gpu)" if held else ""))
    return report


def _empty(obj) -> None:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.nn.Module):
        obj.to("meta")  # the parameters' and buffers' memory is freed even if the module lives on
    elif isinstance(obj, dict | list):
        for value in obj.values() if isinstance(obj, dict) else obj:
            _empty(value)
        obj.clear()


def start(argv: Sequence[str], *, log_path: Path | None = None, env: dict | None = None, cwd: Path | None = None,
          stdout=None) -> subprocess.Popen:
    """Start ``argv`` in its own process group, its output appended to ``log_path``.

    ``stdout=subprocess.PIPE``: standard output comes back as text through a pipe the caller
    reads to the end, and only standard error goes to the log. The GPU memory this process
    no longer needs is released first (:func:`release_gpu`): the child may need all of it.
    """
    argv = [str(a) for a in argv]
    release_gpu()
    log = None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "ab")
        log.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(hide_secrets(argv))}\n".encode())
        log.flush()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout if stdout is not None else log,
                                stderr=log if stdout is not None else subprocess.STDOUT, env=env, cwd=cwd,
                                text=stdout is not None, start_new_session=True, preexec_fn=_die_with_parent)
    finally:
        if log:
            log.close()  # the child holds its own copy
    _LIVE.add(proc)
    return proc


def wait(proc: subprocess.Popen, poll: float = 1.0, tick=None) -> int:
    """Wait for ``proc``, calling ``tick(False)`` every ``poll`` seconds and ``tick(True)`` at the end.

    An interrupt (the notebook's stop button) stops the whole group and re-raises.
    """
    try:
        while proc.poll() is None:
            if tick:
                tick(False)
            time.sleep(poll)
        return proc.returncode
    except BaseException:
        stop(proc)
        raise
    finally:
        if tick:
            tick(True)
        _LIVE.discard(proc)


def stop(proc: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM to the process group, SIGKILL to what is left after ``grace`` seconds; returns
    once every member of the group is gone."""
    for sig, seconds in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        if not _group_alive(proc):
            break
        try:
            os.killpg(proc.pid, sig)  # pgid == pid: start_new_session made it the leader
        except (ProcessLookupError, PermissionError):
            break
        deadline = time.monotonic() + seconds
        while _group_alive(proc) and time.monotonic() < deadline:
            time.sleep(0.05)
    proc.wait()
    _LIVE.discard(proc)


def running(proc: subprocess.Popen | None) -> bool:
    return proc is not None and proc.poll() is None


def _group_alive(proc: subprocess.Popen) -> bool:
    proc.poll()  # reap the leader, so that it does not linger as a zombie
    return bool(group_members(proc.pid))


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group; read from /proc on Linux."""
    root = Path("/proc")
    if not (root / "self" / "stat").exists():  # elsewhere: does anything in the group exist?
        try:
            os.killpg(pgid, 0)
            return [pgid]
        except (ProcessLookupError, PermissionError):
            return []
    members = []
    for stat in root.glob("[0-9]*/stat"):
        try:
            state, _ppid, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue  # exited while we looked
        if int(pgrp) == pgid and state not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return members


@atexit.register
def stop_all() -> None:
    """Stop every child still running (registered with atexit: the kernel is shutting down)."""
    for proc in list(_LIVE):
        stop(proc, grace=5.0)


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM it when its parent dies."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
