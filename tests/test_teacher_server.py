"""Local teacher servers: readiness, failure reports, clean stops (process group), swift deploy."""

import os
import socket
import sys
import time
from pathlib import Path

import pytest

from cookbook import procs
from cookbook.hub import OFFLINE_ENV
from cookbook.teacher import LocalServer, ServerFailed, TeacherConfig, free_port, generate, swift_deploy, vllm_serve
from cookbook.toy.prompts import chat_messages

ROOT = Path(__file__).resolve().parents[1]
FAKE = ROOT / "tests" / "fake_openai.py"

# Serves /v1/models, ignores SIGTERM and leaves a grandchild behind: the worst case for stop().
STUBBORN = """
import http.server, json, signal, subprocess, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open(sys.argv[2], "w").write(str(child.pid))
class Models(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"data": [{"id": "stubborn"}]}).encode()
        self.send_response(200); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Models).serve_forever()
"""


def fake_server(tmp_path, **kw) -> LocalServer:
    port = free_port()
    return LocalServer([sys.executable, FAKE, "--port", port], port, "fake-teacher",
                       log_path=tmp_path / "server.log", **kw)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is dead too
        return f.read().split(")")[1].split()[0] != "Z"


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_serves_until_the_block_ends(tmp_path):
    with fake_server(tmp_path) as server:
        assert server.running and server.base_url == f"http://127.0.0.1:{server.port}/v1"
        [result] = generate(["hello"], TeacherConfig(base_url=server.base_url, model=server.model_name), progress=False)
        assert result.ok
    assert not server.running and not port_open(server.port)


def test_stopped_when_the_cell_fails(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with fake_server(tmp_path) as server:
            1 / 0
    assert not server.running


def test_exit_before_ready_shows_the_log(tmp_path):
    server = LocalServer([sys.executable, "-c", "print('ValueError: no such model'); raise SystemExit(3)"],
                         free_port(), "m", log_path=tmp_path / "s.log")
    with pytest.raises(ServerFailed, match=r"(?s)exited with code 3.*no such model"):
        server.start()


def test_failure_report_masks_secret_arguments(tmp_path):
    server = LocalServer([sys.executable, "-c", "raise SystemExit(1)", "--api_key", "sk-canary-in-argv"],
                         free_port(), "m", log_path=tmp_path / "s.log")
    with pytest.raises(ServerFailed) as failed:
        server.start()
    assert "sk-canary-in-argv" not in str(failed.value) and "--api_key ***" in str(failed.value)


def test_deadline_shows_the_log_and_stops_the_server(tmp_path):
    server = LocalServer([sys.executable, "-c", "import time; print('loading weights', flush=True); time.sleep(600)"],
                         free_port(), "m", log_path=tmp_path / "s.log", ready_timeout=1.5)
    with pytest.raises(ServerFailed, match=r"(?s)did not answer.*loading weights"):
        server.start()
    assert not server.running


def test_another_server_on_the_port_is_not_mistaken_for_ours(tmp_path):
    with fake_server(tmp_path) as other:
        ours = LocalServer([sys.executable, "-c", "import time; time.sleep(600)"], other.port, "teacher",
                           log_path=tmp_path / "ours.log", ready_timeout=1.5)
        with pytest.raises(ServerFailed):  # /v1/models answers, but without our model
            ours.start()


def test_sigterm_ignored_means_sigkill_for_the_whole_group(tmp_path):
    port, pid_file = free_port(), tmp_path / "grandchild.pid"
    script = tmp_path / "stubborn.py"
    script.write_text(STUBBORN)
    server = LocalServer([sys.executable, script, port, pid_file], port, "stubborn",
                         log_path=tmp_path / "s.log", stop_timeout=0.5).start()
    grandchild = int(pid_file.read_text())
    start = time.monotonic()
    server.stop()
    assert time.monotonic() - start < 5
    assert not server.running and not alive(grandchild)


def test_atexit_hook_stops_what_is_still_running(tmp_path):
    server = fake_server(tmp_path).start()
    assert server.process in procs._LIVE
    procs.stop_all()
    assert not server.running and server.process not in procs._LIVE


def test_swift_deploy_command_and_offline_env(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    server = swift_deploy(tmp_path, model_name="teacher", offline=True)
    cmd = server.command
    assert cmd[:3] == [sys.executable, "-m", "swift.cli.deploy"]
    flags = dict(zip(cmd[3::2], cmd[4::2]))
    assert flags["--model"] == str(tmp_path.resolve()) and flags["--host"] == "127.0.0.1"
    assert flags["--port"] == str(server.port) and flags["--served_model_name"] == "teacher"
    assert flags["--model_type"] == "qwen2" and flags["--template"] == "qwen2_5"
    assert OFFLINE_ENV.items() <= server.env.items() and server.process is None  # built, not started
    online = swift_deploy(tmp_path, offline=False)
    assert "HF_HUB_OFFLINE" not in online.env


def test_vllm_serve_command():
    server = vllm_serve("Qwen/Qwen3-8B", model_name="qwen3", offline=False)
    assert server.command[1:3] == ["serve", "Qwen/Qwen3-8B"] and "--reasoning-parser" in server.command
    assert server.command[server.command.index("--host") + 1] == "127.0.0.1"


def tiny_teacher():
    from cookbook.toy.world import load_world

    try:
        return load_world(build_if_missing=False)  # never start a build from a test
    except FileNotFoundError as e:
        pytest.skip(f"the tiny world is not built yet (`make world`): {e}")


@pytest.mark.slow
def test_swift_deploy_serves_the_tiny_teacher_with_reasoning(tmp_path, monkeypatch, guarded_env):
    world = tiny_teacher()
    env, netguard_log = guarded_env
    for name in ("PYTHONPATH", "NETGUARD_LOG"):  # the server inherits the network guard
        monkeypatch.setenv(name, env[name])
    question = world.problems("gsm8k_test")[0]
    with swift_deploy(world.model_dir("teacher"), log_path=tmp_path / "swift.log", offline=True) as server:
        config = TeacherConfig(base_url=server.base_url, model=server.model_name, stream=True,
                               sampling={"temperature": 0, "max_tokens": 256}, timeout=120)
        [result] = generate([chat_messages(question.question)], config, progress=False)
    assert result.ok, result.error
    assert result.reasoning and "\\boxed{" in result.answer, (result.content, server.log_tail())
    assert result.usage and result.usage["completion_tokens"] > 0
    assert netguard_log.read_text() == "", "swift deploy tried to reach beyond loopback"


@pytest.mark.slow
def test_server_dies_with_a_killed_notebook_kernel(tmp_path):
    """atexit does not run on SIGKILL; the server must not outlive its parent anyway."""
    import os
    import signal
    import subprocess
    import sys
    import time

    world = tiny_teacher()
    script = (
        "import sys, time\n"
        "from cookbook.teacher import swift_deploy\n"
        f"s = swift_deploy({str(world.model_dir('teacher'))!r}, offline=True).start()\n"
        "print(s.process.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    server_pid = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            os.kill(server_pid, 0)  # still there?
        except ProcessLookupError:
            return
        time.sleep(0.5)
    os.killpg(server_pid, signal.SIGKILL)
    pytest.fail("the server outlived its killed parent")


def test_how_a_local_teacher_is_served_is_the_recipes_choice(monkeypatch, tmp_path):
    """teacher.serve, model_type and template come from the recipe (before: from a test of the
    profile's name, so a local teacher in another profile on a CPU got no chance to say)."""
    import torch

    from cookbook.recipe import load_recipe
    from cookbook.teacher import endpoint

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert endpoint.serving("auto") == "swift" and endpoint.serving("vllm") == "vllm"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert endpoint.serving("auto") == "vllm" and endpoint.serving("swift") == "swift"

    started = {}

    class Fake:
        base_url, model_name = "http://127.0.0.1:1/v1", "teacher"

        def start(self):
            return self

    def fake_swift(model_dir, **kw):
        started.update(kw, command="swift")
        return Fake()

    monkeypatch.setattr(endpoint, "resolve_model", lambda ref: tmp_path)
    monkeypatch.setattr(endpoint, "swift_deploy", fake_swift)
    teacher = endpoint.open_teacher(load_recipe("recipes/tiny.yaml"))  # serve: swift, even with a GPU
    assert started["command"] == "swift" and (started["model_type"], started["template"]) == ("qwen2", "qwen2_5")
    # the server batches as many requests as the client keeps in flight: the recipe's concurrency
    assert started["max_batch_size"] == teacher.config.concurrency == 64
    assert teacher.config.requests_per_minute is None


def test_an_api_teacher_gets_the_recipes_pacing_and_prices():
    from cookbook.recipe import load_recipe
    from cookbook.teacher.endpoint import open_teacher

    config = open_teacher(load_recipe("recipes/workshop.yaml")).config
    assert config.model == "deepseek-ai/DeepSeek-R1"  # API-Inference takes ModelScope model ids
    assert config.requests_per_minute == 20 and config.concurrency == 8
