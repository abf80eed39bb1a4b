"""The teacher's API key, given through the environment, shows up nowhere we write or print."""

import logging

import pytest

from cookbook.teacher import TeacherClient, TeacherConfig, generate
from tests.fake_openai import FakeOpenAI

CANARY = "sk-canary-7f3a9c41-never-print-me"


@pytest.mark.parametrize("stream", [True, False])
def test_api_key_never_leaks(tmp_path, monkeypatch, caplog, capsys, stream):
    monkeypatch.setenv("TEACHER_CANARY_KEY", CANARY)
    for logger in (None, "openai", "httpx2", "httpcore2", "aiohttp"):  # the SDK's debug logs too
        caplog.set_level(logging.DEBUG, logger=logger)
    with FakeOpenAI(expected_key=CANARY, log_path=tmp_path / "server.jsonl", hang_seconds=3) as server:
        config = TeacherConfig(base_url=server.base_url, model="fake-teacher", api_key_env="TEACHER_CANARY_KEY",
                               stream=stream, timeout=1, max_attempts=2, backoff_initial=0.01, backoff_max=0.05,
                               price_input_per_m=1.0, price_output_per_m=1.0)
        client = TeacherClient(config, cache=tmp_path / "cache.jsonl")
        prompts = ["fine", "x [fault:400x1]", "y [fault:500x9]", "z [fault:timeoutx1]", "w [fault:429x1]"]
        results = client.generate(prompts)
        again = generate(prompts, config, cache=tmp_path / "cache.jsonl")  # the failed rows are sent again

    assert all(r["auth_ok"] for r in server.requests)  # the key was really sent, as a bearer token
    assert [r.status for r in results] == ["ok", "failed", "failed", "ok", "ok"]
    printed = capsys.readouterr()
    places = {
        "logs": caplog.text, "stdout": printed.out, "stderr (progress bar)": printed.err,
        "repr(client)": repr(client), "repr(config)": repr(config), "results": repr(results + again),
        "errors": " ".join(r.error or "" for r in results + again),
    }
    places |= {f"file {p.name}": p.read_bytes().decode(errors="replace") for p in tmp_path.rglob("*") if p.is_file()}
    assert "file cache.jsonl" in places and "file server.jsonl" in places and "Building HTTP request" in caplog.text
    leaks = [where for where, text in places.items() if CANARY in text or CANARY[:16] in text]
    assert not leaks, f"the API key appears in: {leaks}"
