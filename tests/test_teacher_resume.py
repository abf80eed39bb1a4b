"""A teacher run killed half way (SIGKILL) and restarted loses nothing and repeats nothing."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.fake_openai import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
N = 60
CHILD = """
import json, sys
from cookbook.teacher import TeacherConfig, generate
base_url, cache, out, n = sys.argv[1:5]
config = TeacherConfig(base_url=base_url, model="fake-teacher", concurrency=4, timeout=5, backoff_initial=0.05)
results = generate([f"row {i}" for i in range(int(n))], config, cache=cache, progress=False)
json.dump([[r.messages[-1]["content"], r.status, r.answer, r.cached] for r in results], open(out, "w"))
"""


def run_child(server, tmp_path, out_name):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args = [sys.executable, str(script), server.base_url, str(tmp_path / "cache.jsonl"), str(tmp_path / out_name), str(N)]
    return subprocess.Popen(args, env=env)


def answered_prompts(cache: Path) -> list[str]:
    data = cache.read_bytes()
    rows = [json.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]
    return [r["messages"][-1]["content"] for r in rows if r["status"] == "ok"]


def test_killed_run_resumes_without_loss_duplicates_or_repeated_requests(tmp_path):
    cache = tmp_path / "cache.jsonl"
    with FakeOpenAI(delay=0.1) as server:  # 4 in flight, 0.1 s each: about 1.5 s for 60 rows
        child = run_child(server, tmp_path, "first.json")
        deadline = time.monotonic() + 60
        while not (cache.exists() and len(answered_prompts(cache)) >= N // 2):
            assert child.poll() is None, "the first run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        child.wait()
        before_kill = set(answered_prompts(cache))
        assert N // 2 <= len(before_kill) < N
        sent_before = len(server.requests)

        child = run_child(server, tmp_path, "second.json")
        assert child.wait(60) == 0
        resent = [r["prompt"] for r in server.requests[sent_before:]]
        assert not before_kill & set(resent), "rows answered before the kill were requested again"

        results = json.loads((tmp_path / "second.json").read_text())
        assert [r[0] for r in results] == [f"row {i}" for i in range(N)]  # in order
        assert all(status == "ok" and answer for _, status, answer, _ in results)
        assert {p for p, _, _, cached in results if cached} == before_kill

        final = answered_prompts(cache)
        assert sorted(final) == sorted(f"row {i}" for i in range(N))  # each row once: none lost, none twice

        sent = len(server.requests)
        child = run_child(server, tmp_path, "third.json")
        assert child.wait(60) == 0
        assert len(server.requests) == sent  # a finished job sends zero requests
        assert all(cached for *_, cached in json.loads((tmp_path / "third.json").read_text()))
