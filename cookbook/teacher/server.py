"""A local OpenAI-compatible teacher server as a subprocess: start, wait until ready, stop.

    with swift_deploy(model_dir) as server:        # CPU: the tiny profile
        generate(prompts, TeacherConfig(base_url=server.base_url, model=server.model_name))

``swift deploy`` (ms-swift, transformers backend, runs on CPU) or ``vllm serve`` (GPU).
The server listens on 127.0.0.1 only, on a free port. Start-up waits until
``GET /v1/models`` lists the served model, and fails with the server's last log lines if
the process dies or the deadline passes. Stopping sends SIGTERM to the whole process
group (the server's own workers included), then SIGKILL after a grace period (cookbook.procs). The
context manager stops the server when a notebook cell fails, and an atexit hook stops any
server still running when the kernel shuts down.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from cookbook import procs
from cookbook.procs import HOST, child_env, free_port  # noqa: F401  (the teacher package's names for them)

# Loopback only: a proxy from the environment must never see the readiness probe.
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ServerFailed(RuntimeError):
    pass


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
        self.process = None  # a subprocess.Popen once started

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        log = str(self.log_path) if self.log_path else None
        return f"LocalServer({self.model_name!r} at {self.base_url}, {state}, log={log!r})"

    @property
    def running(self) -> bool:
        return procs.running(self.process)

    # ---- start ---------------------------------------------------------------------------

    def start(self) -> "LocalServer":
        if self.running:
            return self
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="teacher-server-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        self.process = procs.start(self.command, log_path=self.log_path, env=self.env, cwd=self.log_path.parent)
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
            with NO_PROXY.open(f"{self.base_url}/models", timeout=2) as r:
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
        shown = " ".join(procs.hide_secrets(self.command))
        return f"command: {shown}\nlast lines of {self.log_path}:\n{self.log_tail()}"

    # ---- stop ----------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the server's whole process group (cookbook.procs.stop): returns once it is gone,
        so that a server started right after finds its port (and, with vLLM, its GPU memory) free."""
        if self.process is not None:
            procs.stop(self.process, grace=self.stop_timeout)

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


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
    """``vllm serve`` on a GPU (not started yet). The reasoning parser moves <think> into its own field;
    it follows the model (cookbook.serving.reasoning_parser): None for a plain instruct model."""
    port = port or free_port()
    vllm = Path(sys.executable).with_name("vllm")  # the console script of this environment
    command = [str(vllm) if vllm.exists() else "vllm", "serve", str(model),
               "--host", HOST, "--port", str(port), "--served-model-name", model_name]
    if reasoning_parser:
        command += ["--reasoning-parser", reasoning_parser]
    command += list(extra_args)
    return LocalServer(command, port, model_name, log_path=log_path, env=child_env(offline),
                       ready_timeout=ready_timeout)
