"""Offline by default: the tiny profile's processes never reach a hub (proved under a network guard)."""

import subprocess
import sys

import pytest

from cookbook.hub import OFFLINE_ENV, ModelNotAvailable, go_offline, resolve_model


def run_guarded(env, code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)


def test_the_guard_catches_a_real_attempt(guarded_env):
    env, log = guarded_env
    result = run_guarded(env, "import socket; socket.create_connection(('93.184.216.34', 443), timeout=2)")
    assert result.returncode != 0 and "netguard" in result.stderr
    assert "93.184.216.34" in log.read_text()


def test_offline_settings_reach_child_processes(monkeypatch):
    for key in OFFLINE_ENV:
        monkeypatch.delenv(key, raising=False)
    go_offline()
    code = "import os, json; print(json.dumps({k: os.environ.get(k) for k in %r}))" % list(OFFLINE_ENV)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert eval(out.replace("null", "None")) == OFFLINE_ENV


def test_hub_models_are_refused_offline_with_a_clear_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailable, match="make download"):
        resolve_model("Qwen/Qwen2.5-1.5B-Instruct")


@pytest.mark.parametrize("code", [
    # Hugging Face: transformers asked for a hub model
    "from transformers import AutoTokenizer\n"
    "try:\n    AutoTokenizer.from_pretrained('Qwen/Qwen2.5-0.5B-Instruct')\nexcept Exception as e:\n    print(type(e).__name__)",
    # ModelScope: snapshot_download asked for a hub model
    "from modelscope import snapshot_download\n"
    "try:\n    snapshot_download('Qwen/Qwen2.5-0.5B-Instruct')\nexcept Exception as e:\n    print(type(e).__name__)",
])
def test_hub_libraries_fail_without_leaving_loopback(guarded_env, code):
    env, log = guarded_env
    result = run_guarded(env, code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip(), "the download should have failed"
    assert log.read_text() == "", f"a hub was contacted:\n{log.read_text()}"
