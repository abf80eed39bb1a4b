"""Teacher throughput: our concurrent, cached client vs a sequential loop, same server.

The server (tests/fake_openai.py, in its own process) takes 50 ms per answer, like a
fast hosted model. The reference is what EasyDistill 1.x does with an API teacher: a loop
that sends one request, waits for the answer, then sends the next. Ours runs with its
defaults (64 in flight, every row appended to the JSON-lines cache) and asks for the same
non-streamed answers as the reference, so that only the client differs; the streamed
figure (our default mode, about 15 stream chunks per answer here) is printed beside it.
Requests per second are compared in one run, on one machine. At 50 ms per answer our
client is bound by its own CPU (0.7 ms per request non-streamed, 1.1 ms streamed, mostly
the SDK and its HTTP stack), so the figure drops when other work shares the cores.

    python bench/teacher_throughput.py          # about 7 s
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from openai import OpenAI

from cookbook.teacher import TeacherConfig, generate
from cookbook.teacher.server import free_port

ROOT = Path(__file__).resolve().parents[1]
DELAY = 0.05
OURS, SEQUENTIAL = 1000, 40  # a real job has thousands of prompts, over which start-up costs spread


def prompt(i: int, run: str) -> str:
    return f"{run} question {i}\nPlease reason step by step, and put your final answer within \\boxed{{}}."


def wait_ready(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                f"http://127.0.0.1:{port}/v1/models", timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the fake server did not start")


def sequential(base_url: str, n: int) -> float:
    """EasyDistill 1.x style: one blocking request at a time. Returns requests/s."""
    client = OpenAI(base_url=base_url, api_key="EMPTY")
    client.chat.completions.create(model="fake-teacher", messages=[{"role": "user", "content": "warm-up"}])
    start = time.perf_counter()
    for i in range(n):
        reply = client.chat.completions.create(model="fake-teacher",
                                               messages=[{"role": "user", "content": prompt(i, "seq")}])
        assert reply.choices[0].message.content
    return n / (time.perf_counter() - start)


def ours(base_url: str, n: int, cache: Path, stream: bool) -> float:
    config = TeacherConfig(base_url=base_url, model="fake-teacher", stream=stream)
    start = time.perf_counter()
    results = generate([prompt(i, f"ours-{stream}") for i in range(n)], config, cache=cache, progress=False)
    elapsed = time.perf_counter() - start
    assert all(r.ok for r in results), [r.error for r in results if not r.ok][:3]
    return n / elapsed


def main() -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_openai.py"), "--port", str(port),
                               "--delay", str(DELAY)])
    try:
        wait_ready(port)
        base_url = f"http://127.0.0.1:{port}/v1"
        with tempfile.TemporaryDirectory() as tmp:
            # Warm-up (not timed): imports, TLS context and first connections are paid once per process.
            ours(base_url, 64, Path(tmp) / "warm-up.jsonl", stream=True)
            ours_rps = ours(base_url, OURS, Path(tmp) / "cache.jsonl", stream=False)
            streamed_rps = ours(base_url, OURS, Path(tmp) / "cache.jsonl", stream=True)
        seq_rps = sequential(base_url, SEQUENTIAL)
    finally:
        server.terminate()
        server.wait(10)
    print(f"server latency {DELAY * 1000:.0f} ms. ours: {OURS} requests, {ours_rps:.1f} requests/s "
          f"({streamed_rps:.1f} streamed, {streamed_rps / seq_rps:.1f}x); "
          f"sequential: {SEQUENTIAL} requests, {seq_rps:.1f} requests/s")
    print(json.dumps({
        "bench": "teacher_throughput",
        "figures": {"speedup_vs_sequential": round(ours_rps / seq_rps, 1),
                    "requests_per_s": round(ours_rps, 1), "sequential_requests_per_s": round(seq_rps, 1)},
        "targets": {"speedup_vs_sequential": ">= 30"},
    }))


if __name__ == "__main__":
    main()
