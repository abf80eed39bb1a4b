"""A local OpenAI-compatible teacher server as a subprocess: start, wait until ready, stop.

    with swift_deploy(model_dir) as server:        # CPU: the tiny profile
        generate(prompts, TeacherConfig(base_url=server.base_url, model=server.model_name))

``swift deploy`` (ms-swift, transformers backend, runs on CPU) or ``vllm serve`` (GPU).
The server listens on 127.0.0.1 only, on a free port. Start-up waits until
``GET /v1/models`` lists the served model, and fails with the server's last log lines if
the process dies or the deadline passes. Stopping sends SIGTERM to the whole process
group (the server's own workers included), then SIGKILL after a grace period. The
context manager stops the server when a notebook cell fails, and an atexit hook stops any
server still running when the kernel shuts down.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from cookbook import hub

HOST = "127.0.0.1"
_LIVE: set["LocalServer"] = set()
# Values never repeated in our error messages. (Better not to pass them at all: the server
# listens on loopback only, and ms-swift writes its arguments to its log.)
_SECRET_FLAGS = {"--api_key", "--api-key", "--hub_token", "--hub-token"}
# Loopback only: a proxy from the environment must never see the readiness probe.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServerFailed(RuntimeError):
    pass


def free_port() -> int:
    """A port nobody listens on now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class LocalServer:
    def __init__(self, command: Sequence[str], port: int, model_name: str, *, log_path: str | Path | None = None,
                 env: dict[str, str] | None = None, ready_timeout: float = 300.0, stop_timeout: float = 15.0):
        self.command = [str(c) for c in command]
        self.port = port
        self.model_name = model_name
        self.log_path = Path(log_path) if log_path else None  # None: a temporary file, made by start()
        self.env = env
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        log = str(self.log_path) if self.log_path else None
        return f"LocalServer({self.model_name!r} at {self.base_url}, {state}, log={log!r})"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # ---- start ---------------------------------------------------------------------------

    def start(self) -> "LocalServer":
        if self.running:
            return self
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="teacher-server-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:  # a file, not a pipe: a full pipe would block the server
            self.process = subprocess.Popen(
                self.command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=self.env, cwd=self.log_path.parent,
                start_new_session=True,  # its own process group, so stop() reaches its children too
                preexec_fn=_die_with_parent,
            )
        _LIVE.add(self)
        try:
            self.wait_ready()
        except BaseException:  # not ready, or the cell was interrupted: do not leave it behind
            self.stop()
            raise
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise ServerFailed(f"the server exited with code {code} before it was ready.\n{self._tail_report()}")
            if self._serves_model():
                return
            if time.monotonic() > deadline:
                raise ServerFailed(f"the server did not answer on {self.base_url} within {self.ready_timeout:.0f} s."
                                   f"\n{self._tail_report()}")
            time.sleep(0.5)

    def _serves_model(self) -> bool:
        try:
            with _NO_PROXY.open(f"{self.base_url}/models", timeout=2) as r:
                models = json.load(r)
        except (OSError, ValueError):  # refused, reset, timed out or not JSON yet
            return False
        # Checking the name also makes sure that it is our server on this port, not another one.
        data = models.get("data") if isinstance(models, dict) else None
        return any(isinstance(m, dict) and m.get("id") == self.model_name for m in data or ())

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, AttributeError):  # not started yet, or the log is gone
            return ""

    def _tail_report(self) -> str:
        shown = ["***" if before in _SECRET_FLAGS else arg for before, arg in zip([""] + self.command, self.command)]
        return f"command: {' '.join(shown)}\nlast lines of {self.log_path}:\n{self.log_tail()}"

    # ---- stop ----------------------------------------------------------------------------

    def stop(self) -> None:
        """SIGTERM to the process group, SIGKILL to what is left after the grace period.

        Returns once every process of the group is gone, so that a server started right
        after finds its port (and, with vLLM, its GPU memory) free.
        """
        if self.process is None:
            return
        if self._group_alive():
            self._signal(signal.SIGTERM)
            self._wait_group(self.stop_timeout)
        if self._group_alive():
            self._signal(signal.SIGKILL)
            self._wait_group(10.0)
        self.process.wait()
        _LIVE.discard(self)

    def _group_alive(self) -> bool:
        self.process.poll()  # reap the leader, so that it does not linger as a zombie
        return bool(_group_members(self.process.pid))

    def _wait_group(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self._group_alive() and time.monotonic() < deadline:
            time.sleep(0.05)

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.process.pid, sig)  # pgid == pid: start_new_session made it the leader
        except (ProcessLookupError, PermissionError):
            pass

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group; read from /proc on Linux."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():  # elsewhere: does anything in the group exist?
        try:
            os.killpg(pgid, 0)
            return [pgid]
        except (ProcessLookupError, PermissionError):
            return []
    members = []
    for stat in proc.glob("[0-9]*/stat"):
        try:
            state, _ppid, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue  # exited while we looked
        if int(pgrp) == pgid and state not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return members


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop()


def child_env(offline: bool | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """os.environ, plus the hub's offline settings when offline (default: as this process is)."""
    env = dict(os.environ)
    if hub.is_offline() if offline is None else offline:
        env.update(hub.OFFLINE_ENV)
    return env | (extra or {})


def swift_deploy(model: str | Path, *, model_name: str = "teacher", port: int | None = None,
                 model_type: str | None = "qwen2", template: str | None = "qwen2_5",
                 infer_backend: str = "transformers", max_batch_size: int = 32, extra_args: Sequence[str] = (),
                 log_path: str | Path | None = None, ready_timeout: float = 300.0,
                 offline: bool | None = None) -> LocalServer:
    """``swift deploy`` of a local model folder (not started yet: use ``with`` or ``.start()``).

    model_type and template are needed for a local folder (ms-swift cannot guess them from a
    path); pass None for both with a hub id. The defaults fit the tiny world's Qwen2 models.
    """
    port = port or free_port()
    command = [
        # The module `swift deploy` itself runs in a second interpreter: calling it directly
        # saves one Python start-up and leaves one process to watch.
        sys.executable, "-m", "swift.cli.deploy",
        "--model", str(Path(model).expanduser().resolve()) if Path(model).expanduser().exists() else str(model),
        "--infer_backend", infer_backend,
        "--host", HOST, "--port", str(port),
        "--served_model_name", model_name,
        "--verbose", "false",  # no per-request log lines (prompts and whole answers) in the log
        # The transformers backend answers one request at a time unless told to batch
        # (ms-swift's default is 1): concurrent requests are batched up to this size.
        "--max_batch_size", str(max_batch_size),
    ]
    if model_type:
        command += ["--model_type", model_type]
    if template:
        command += ["--template", template]
    command += list(extra_args)
    return LocalServer(command, port, model_name, log_path=log_path, env=child_env(offline),
                       ready_timeout=ready_timeout)


def vllm_serve(model: str | Path, *, model_name: str = "teacher", port: int | None = None,
               reasoning_parser: str | None = "deepseek_r1", extra_args: Sequence[str] = (),
               log_path: str | Path | None = None, ready_timeout: float = 900.0,
               offline: bool | None = None) -> LocalServer:
    """``vllm serve`` on a GPU (not started yet). The reasoning parser moves <think> into its own field."""
    port = port or free_port()
    vllm = Path(sys.executable).with_name("vllm")  # the console script of this environment
    command = [str(vllm) if vllm.exists() else "vllm", "serve", str(model),
               "--host", HOST, "--port", str(port), "--served-model-name", model_name]
    if reasoning_parser:
        command += ["--reasoning-parser", reasoning_parser]
    command += list(extra_args)
    return LocalServer(command, port, model_name, log_path=log_path, env=child_env(offline),
                       ready_timeout=ready_timeout)


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM it when its parent dies.

    atexit does not run when the kernel or script is killed (SIGTERM, SIGKILL, a timeout),
    and an orphaned server would hold a core and a port until someone notices.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
