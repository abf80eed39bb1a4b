"""Several endpoints of one teacher on loopback: spread, a killed one skipped, nothing lost."""

import asyncio
import json
import math
import os
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from cookbook.procs import free_port
from cookbook.recipe import RecipeError, load_recipe
from cookbook.teacher import LocalServer, TeacherClient, TeacherConfig, generate
from cookbook.teacher.endpoint import open_teacher
from cookbook.teacher.endpoints import Endpoint, EndpointPool
from cookbook.teacher.requests import keyed
from tests.fake_openai import FakeOpenAI

FAKE = Path(__file__).with_name("fake_openai.py")


def config(urls, **kw) -> TeacherConfig:
    fast = dict(timeout=2.0, max_attempts=6, backoff_initial=0.02, backoff_max=0.1)
    return TeacherConfig(base_url=urls, model="fake-teacher", **(fast | kw))


def logged_prompts(log: Path) -> list[str]:
    out = []
    for line in log.read_text().splitlines():
        try:
            out.append(json.loads(line)["prompt"])
        except ValueError:  # the line it was writing when killed
            pass
    return out


def test_a_killed_endpoint_is_skipped_and_every_request_is_answered_once(tmp_path):
    """Three servers, one SIGKILLed mid-run: every row answered once, by the two live ones
    (each a fair share), the dead one tried only by the requests that were on their way to it."""
    port = free_port()
    log = tmp_path / "c.jsonl"
    doomed = LocalServer([sys.executable, str(FAKE), "--port", str(port), "--delay", "0.02", "--log", str(log)],
                         port, "fake-teacher", log_path=tmp_path / "c.log", env=dict(os.environ, PYTHONPATH=str(FAKE.parents[1])),
                         ready_timeout=60)
    n, concurrency = 150, 8
    prompts = [f"q{i}" for i in range(n)]
    with FakeOpenAI(delay=0.02) as a, FakeOpenAI(delay=0.02) as b, doomed:
        def kill_after(hits: int):
            while not log.exists() or len(log.read_text().splitlines()) < hits:
                time.sleep(0.005)
            os.kill(doomed.process.pid, signal.SIGKILL)

        killer = threading.Thread(target=kill_after, args=(15,), daemon=True)
        killer.start()
        client = TeacherClient(config([a.base_url, b.base_url, doomed.base_url], concurrency=concurrency,
                                      cooldown=120), cache=tmp_path / "cache.jsonl", progress=False)
        results = client.generate(prompts)
        killer.join(5)
        assert doomed.process.poll() is not None  # it did die mid-run
        dead = logged_prompts(log)

    assert [r.messages[-1]["content"] for r in results] == prompts and all(r.ok for r in results)
    live = Counter(e["prompt"] for e in a.requests + b.requests)
    assert max(live.values()) == 1  # no request answered twice
    answered_by_dead = set(dead) - set(live)
    assert set(live) | answered_by_dead == set(prompts)  # nothing lost
    stats = client.endpoint_stats
    assert stats[doomed.base_url]["cooldowns"] == 1  # out at its first failure, for the rest of the run
    # The dead one was tried only by the attempts under way when it died (at most one per worker)
    assert stats[doomed.base_url]["failed"] <= concurrency
    assert stats[doomed.base_url]["answered"] == len(answered_by_dead) >= 1
    for s in (a, b):  # the rest was spread over the two live ones
        assert len(s.requests) >= 0.3 * n
        assert stats[s.base_url] == {"answered": len(s.requests), "failed": 0, "cooldowns": 0}
    rows = [json.loads(line) for line in (tmp_path / "cache.jsonl").read_text().splitlines()]
    assert len(rows) == n and {r["status"] for r in rows} == {"ok"} and len({r["key"] for r in rows}) == n


def test_when_every_endpoint_cools_down_requests_wait_for_the_first_back(tmp_path):
    """Both endpoints down at the start; one comes up later: every request is answered by it, and
    while both were down, each was tried about once per cool-down (not once per request)."""
    down, late = free_port(), free_port()
    server = FakeOpenAI()
    threading.Timer(0.5, server.start, kwargs={"port": late}).start()
    start = time.monotonic()
    client = TeacherClient(config([f"http://127.0.0.1:{down}/v1", f"http://127.0.0.1:{late}/v1"], concurrency=4,
                                  cooldown=0.25, max_attempts=30), progress=False)
    try:
        results = client.generate([f"q{i}" for i in range(12)])
    finally:
        server.stop()
    elapsed = time.monotonic() - start
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    stats = client.endpoint_stats
    assert stats[server.base_url]["answered"] == 12 and stats[f"http://127.0.0.1:{down}/v1"]["answered"] == 0
    failed = sum(s["failed"] for s in stats.values())
    # the first wave (one per worker), then at most one probe per endpoint per cool-down
    assert failed <= 4 + 2 * (math.ceil(elapsed / 0.25) + 1)


def test_a_request_that_fails_everywhere_does_not_take_the_endpoints_out(tmp_path):
    """A 500 for one request is retried on the other endpoint at once; neither cools down, and a
    429 keeps its Retry-After handling."""
    with FakeOpenAI(retry_after="0.2") as a, FakeOpenAI(retry_after="0.2") as b:
        prompts = [f"q{i}" for i in range(20)] + ["poison [fault:500x99]", "busy [fault:429x2]"]
        client = TeacherClient(config([a.base_url, b.base_url], concurrency=4, max_attempts=4,
                                      backoff_initial=5, backoff_max=5), progress=False)
        t0 = time.monotonic()
        results = client.generate(prompts[:-1])
        assert time.monotonic() - t0 < 5  # the retries elsewhere did not wait their 5 s backoff
        assert [r.ok for r in results] == [True] * 20 + [False]
        assert results[-1].attempts == 4 and results[-1].error.startswith("HTTP 500")
        assert a.attempts["poison [fault:500x99]"] == b.attempts["poison [fault:500x99]"] == 2  # by turns
        assert all(s["cooldowns"] == 0 for s in client.endpoint_stats.values())

        # each fake counts its own attempts: 429, 429 at both, then an answer
        client = TeacherClient(config([a.base_url, b.base_url], max_attempts=6, backoff_initial=5, backoff_max=5),
                               progress=False)
        t0 = time.monotonic()
        [busy] = client.generate(prompts[-1:])
        waited = time.monotonic() - t0
        assert busy.ok and busy.attempts == 5 and 4 * 0.2 <= waited < 5  # Retry-After, not the 5 s backoff
        assert all(s["cooldowns"] == 0 and s["failed"] == 0 for s in client.endpoint_stats.values())


def test_the_cache_does_not_care_which_endpoint_answered(tmp_path):
    prompts = [f"q{i}" for i in range(10)]
    cache = tmp_path / "cache.jsonl"
    with FakeOpenAI() as a, FakeOpenAI() as b, FakeOpenAI() as c:
        first = generate(prompts, config([a.base_url, b.base_url]), cache=cache, progress=False)
        assert a.requests and b.requests
        again = generate(prompts, config(c.base_url), cache=cache, progress=False)  # one other server
        assert not c.requests and all(r.cached for r in again)
    assert [r.key for r in first] == [r.key for r in again] == [k for k, _, _ in keyed(prompts, "fake-teacher", {})]


def test_least_in_flight_then_in_turn():
    pool = EndpointPool([Endpoint("a"), Endpoint("b"), Endpoint("c")])

    async def main():
        taken = [await pool.acquire() for _ in range(6)]
        assert Counter(e.url for e in taken) == {"a": 2, "b": 2, "c": 2}
        pool.release(taken[0])
        assert (await pool.acquire()) is taken[0]  # the least busy
        retry = await pool.acquire(avoid=pool.endpoints[0])
        assert retry.url != "a"

    asyncio.run(main())


def test_one_endpoint_never_cools_down():
    pool = EndpointPool([Endpoint("a")], cooldown=60)

    async def main():
        for _ in range(5):
            e = await pool.acquire()
            pool.release(e, ConnectionError("refused"))
        assert (await pool.acquire()).url == "a" and pool.stats()["a"]["cooldowns"] == 0

    asyncio.run(main())


BASE = "name: t\nprofile: tiny\nhardware: cpu\nruntime: 1 min\n"


def test_the_recipe_lists_several_endpoints_and_one_url_recipes_stay_as_they_were(tmp_path):
    one = tmp_path / "one.yaml"
    one.write_text(BASE + "teacher:\n  base_url: http://127.0.0.1:8001/v1\n")
    several = tmp_path / "several.yaml"
    several.write_text(BASE + "teacher:\n  base_url: [http://127.0.0.1:8001/v1, http://127.0.0.1:8002/v1]\n"
                       "  cooldown: 10\n")
    r1, r2 = load_recipe(one), load_recipe(several)
    assert r1.teacher.base_url == "http://127.0.0.1:8001/v1" and r1.teacher.cooldown == 30
    assert r2.teacher.base_urls == ("http://127.0.0.1:8001/v1", "http://127.0.0.1:8002/v1")
    c1, c2 = open_teacher(r1).config, open_teacher(r2).config
    assert c1.base_url == "http://127.0.0.1:8001/v1" and c1.base_urls == (c1.base_url,)
    assert c2.base_urls == r2.teacher.base_urls and c2.cooldown == 10
    assert "8002" in open_teacher(r2).where
    empty = tmp_path / "empty.yaml"
    empty.write_text(BASE + "teacher:\n  base_url: []\n")
    with pytest.raises(RecipeError):
        load_recipe(empty)
    with pytest.raises(ValueError):
        TeacherConfig(base_url=[], model="m")
