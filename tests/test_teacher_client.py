"""The teacher client against a misbehaving loopback server: every row ends answered or failed."""

import asyncio
import email.utils
import json
import logging
import os
import signal
import threading
import time

import httpx2
import openai
import pytest

from cookbook.teacher import MissingApiKey, TeacherClient, TeacherConfig, generate, load_results
from cookbook.teacher.cache import CacheBusy, ResultCache
from cookbook.teacher.endpoint import stream_chat
from cookbook.teacher.progress import TeacherProgress
from cookbook.teacher.reasoning import split_reply, split_think
from cookbook.teacher.requests import Result
from cookbook.teacher.retry import is_retryable, retry_after_seconds
from tests.fake_openai import FakeOpenAI

FAULTS = {  # prompt suffix -> (status, attempts it takes)
    "": ("ok", 1),
    "[style:field]": ("ok", 1),
    "[style:vllm]": ("ok", 1),
    "[fault:429x2]": ("ok", 3),
    "[fault:500x1]": ("ok", 2),
    "[fault:timeoutx1]": ("ok", 2),
    "[fault:badjsonx1]": ("ok", 2),
    "[fault:truncatedx1]": ("ok", 2),
    "[fault:nofinishx1]": ("ok", 2),  # a stream without finish_reason (non-streamed: answered at once)
    "[fault:500x99]": ("failed", 4),
    "[fault:400x1]": ("failed", 1),
}


@pytest.fixture
def server():
    with FakeOpenAI(hang_seconds=5) as s:
        yield s


def config(server, **kw) -> TeacherConfig:
    fast = dict(timeout=1.0, max_attempts=4, backoff_initial=0.02, backoff_max=0.1)
    return TeacherConfig(base_url=server.base_url, model="fake-teacher", **(fast | kw))


@pytest.mark.parametrize("stream", [True, False])
def test_every_fault_ends_answered_or_failed_with_its_reason(server, tmp_path, stream):
    prompts = [f"q{i} {suffix}" for i, suffix in enumerate(FAULTS)]
    results = generate(prompts, config(server, stream=stream), cache=tmp_path / "cache.jsonl", progress=False)

    assert [r.messages[-1]["content"] for r in results] == prompts  # in the order asked
    for prompt, r in zip(prompts, results):
        status, attempts = FAULTS[prompt.split(" ", 1)[1]]
        attempts = 1 if "nofinish" in prompt and not stream else attempts
        assert (r.status, r.attempts) == (status, attempts), (prompt, r.error)
        assert server.attempts[prompt] == attempts
        if r.ok:
            assert r.reasoning == f"thinking about {prompt[:20]}".strip()
            assert r.answer == f"The answer is \\boxed{{{len(prompt)}}}."
            assert r.usage["completion_tokens"] == 7 and r.finish_reason == "stop"
    by_fault = {p.split(" ", 1)[1]: r for p, r in zip(prompts, results)}
    assert by_fault["[fault:500x99]"].error.startswith("HTTP 500")
    assert by_fault["[fault:400x1]"].error.startswith("HTTP 400")  # not retried: it cannot get better
    assert "<think>" in by_fault[""].content
    for style in ("[style:field]", "[style:vllm]"):  # reasoning_content (R1 APIs), reasoning (recent vLLM)
        assert by_fault[style].content == by_fault[style].answer
    rows = [json.loads(line) for line in (tmp_path / "cache.jsonl").read_text().splitlines()]
    assert len(rows) == len(prompts) and {r["status"] for r in rows} == {"ok", "failed"}


@pytest.mark.parametrize("style", ["[style:think]", "[style:field]", "[style:vllm]"])
def test_stream_chat_separates_reasoning_in_every_form(server, style):
    """Notebook 01's live stream: the <think> block, reasoning_content and reasoning alike."""
    prompt = f"q1 {style}"
    pieces = list(stream_chat(config(server), [{"role": "user", "content": prompt}]))
    text = {kind: "".join(t for k, t in pieces if k == kind) for kind in ("reasoning", "answer")}
    assert text["reasoning"].strip() == f"thinking about {prompt[:20]}".strip()
    assert text["answer"].strip() == f"The answer is \\boxed{{{len(prompt)}}}."


def test_requests_are_paced_to_the_configured_rate(server):
    """requests_per_minute: an API's quota, spread evenly. At 60 per minute the first of 3
    requests starts at once and the next two wait about 1 s each."""
    prompts = [f"pace {i}" for i in range(3)]
    start = time.monotonic()
    results = generate(prompts, config(server, requests_per_minute=60, timeout=5.0), progress=False)
    assert all(r.ok for r in results)
    assert time.monotonic() - start > 1.5  # unpaced, the fake server answers 3 prompts in milliseconds


def test_retry_after_is_honoured(tmp_path):
    with FakeOpenAI(retry_after="1") as server:
        [result] = generate(["slow [fault:429x1]"], config(server, backoff_initial=0.01, backoff_max=5), progress=False)
        first, second = server.requests
    assert result.ok and result.attempts == 2
    assert second["time"] - first["time"] >= 0.9  # not the 10 ms the backoff alone would wait


def test_retry_after_is_capped(tmp_path):
    with FakeOpenAI(retry_after="3600") as server:
        [result] = generate(["q [fault:429x1]"], config(server, backoff_max=0.2), progress=False)
    assert result.ok and result.seconds < 5


def test_failed_rows_are_retried_by_the_next_run_and_answered_rows_never(server, tmp_path):
    cache = tmp_path / "cache.jsonl"
    prompts = ["fine", "flaky [fault:500x2]"]
    first = generate(prompts, config(server, max_attempts=2), cache=cache, progress=False)
    assert [r.status for r in first] == ["ok", "failed"]
    second = generate(prompts, config(server, max_attempts=2), cache=cache, progress=False)
    assert [r.status for r in second] == ["ok", "ok"] and second[0].cached and not second[1].cached
    assert server.attempts == {"fine": 1, "flaky [fault:500x2]": 3}
    n = len(server.requests)
    third = generate(prompts, config(server), cache=cache, progress=False)
    assert len(server.requests) == n and all(r.cached for r in third)  # a finished job sends nothing
    assert [r.status for r in load_results(cache)] == ["ok", "ok"]
    assert [json.loads(line)["status"] for line in cache.read_text().splitlines()] == ["ok", "failed", "ok"]


def test_repeated_prompts_are_distinct_samples(server, tmp_path):
    results = generate(["same"] * 3 + ["other"], config(server), cache=tmp_path / "c.jsonl", progress=False)
    assert len({r.key for r in results}) == 4 and server.attempts["same"] == 3
    generate(["same"] * 3 + ["other"], config(server), cache=tmp_path / "c.jsonl", progress=False)
    assert server.attempts["same"] == 3  # all three come from the cache the second time


def test_key_depends_on_model_messages_and_sampling_only(server, tmp_path):
    cache = tmp_path / "c.jsonl"
    generate(["q"], config(server, sampling={"temperature": 0.6}), cache=cache, progress=False)
    generate(["q"], config(server, sampling={"temperature": 0.6}, stream=False, concurrency=3), cache=cache,
             progress=False)
    assert server.attempts["q"] == 1
    generate([{"messages": [{"role": "user", "content": "q"}], "params": {"temperature": 0.7}}],
             config(server, sampling={"temperature": 0.6}), cache=cache, progress=False)
    assert server.attempts["q"] == 2


def test_torn_last_line_is_dropped_and_its_request_sent_again(server, tmp_path):
    cache = tmp_path / "cache.jsonl"
    generate(["a", "b"], config(server), cache=cache, progress=False)
    with open(cache, "a") as f:
        f.write('{"key": "half a ro')  # killed in the middle of a write
    results = generate(["a", "b", "c"], config(server), cache=cache, progress=False)
    assert [r.cached for r in results] == [True, True, False]
    lines = cache.read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line) for line in lines)  # the torn bytes are gone


def test_one_writer_per_cache(tmp_path):
    with ResultCache(tmp_path / "c.jsonl"):
        with pytest.raises(CacheBusy):
            ResultCache(tmp_path / "c.jsonl").open()


def test_generate_works_inside_a_running_event_loop(server):
    async def notebook_cell():  # Jupyter and papermill run cells inside a loop
        return generate(["from a cell"], config(server), progress=False)

    [result] = asyncio.run(notebook_cell())
    assert result.ok


def test_async_api(server):
    [result] = asyncio.run(TeacherClient(config(server), progress=False).agenerate(["async"]))
    assert result.ok and result.answer


@pytest.mark.parametrize("stream", [True, False])
def test_logprobs_are_kept_without_byte_lists(server, stream):
    cfg = config(server, stream=stream, sampling={"logprobs": True, "top_logprobs": 2})
    [result] = generate(["lp"], cfg, progress=False)
    first = result.logprobs[0]
    assert set(first) == {"token", "logprob", "top_logprobs"} and len(first["top_logprobs"]) == 2
    assert "".join(t["token"] for t in result.logprobs) == result.content


def test_missing_key_is_named_and_cached_rows_need_none(server, tmp_path, monkeypatch):
    cache = tmp_path / "c.jsonl"
    monkeypatch.setenv("TEACHER_TEST_KEY", "k")
    generate(["q"], config(server, api_key_env="TEACHER_TEST_KEY"), cache=cache, progress=False)
    monkeypatch.delenv("TEACHER_TEST_KEY")
    with pytest.raises(MissingApiKey, match="TEACHER_TEST_KEY"):
        generate(["q", "new"], config(server, api_key_env="TEACHER_TEST_KEY"), cache=cache, progress=False)
    [again] = generate(["q"], config(server, api_key_env="TEACHER_TEST_KEY"), cache=cache, progress=False)
    assert again.cached


def test_failures_are_summarised_in_the_log(server, caplog):
    with caplog.at_level(logging.WARNING, logger="cookbook.teacher"):
        generate(["bad [fault:400x1]"], config(server), progress=False)
    assert "1 of 1 teacher requests failed" in caplog.text and "HTTP 400" in caplog.text


def test_progress_shows_tokens_and_cost():
    cfg = TeacherConfig(base_url="http://127.0.0.1:9/v1", model="m", price_input_per_m=1.0, price_output_per_m=2.0)
    bar = TeacherProgress(total=2, cached=0, config=cfg, enabled=False)
    bar.update(Result(key="k", status="ok", model="m", messages=[], params={},
                      usage={"prompt_tokens": 1000, "completion_tokens": 500_000}))
    assert "out 500.0k tok" in bar.postfix() and "cost 1.0010" in bar.postfix()
    no_price = TeacherProgress(total=1, cached=0, config=TeacherConfig(base_url="x", model="m"), enabled=False)
    assert "cost" not in no_price.postfix()


@pytest.mark.parametrize("content, field, expected", [
    ("<think>\nhmm\n</think>\n\nThe answer is 4.", None, ("hmm", "The answer is 4.")),
    ("hmm\n</think>\n\n4", None, ("hmm", "4")),  # the template opened the tag in the prompt
    ("<think>\nstill thinking when max_tokens hit", None, ("still thinking when max_tokens hit", "")),
    ("just an answer", None, (None, "just an answer")),
    ("The answer is 4.", "from the field", ("from the field", "The answer is 4.")),
    ("<think>tag</think>answer", "field wins", ("field wins", "answer")),
    (None, "only reasoning", ("only reasoning", "")),
])
def test_split_reply(content, field, expected):
    assert split_reply(content, field) == expected


def test_split_think_keeps_later_text_intact():
    assert split_think("<think>a</think>b </think> c") == ("a", "b </think> c")


@pytest.fixture
def sigint_raises():
    """SIGINT raises KeyboardInterrupt, as in a kernel, also where pytest started with SIGINT
    ignored (a shell's background job inherits SIG_IGN, and Python then keeps it)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_interrupting_the_kernel_cancels_the_run_and_keeps_its_rows(tmp_path, sigint_raises):
    cache = tmp_path / "c.jsonl"
    prompts = [f"q{i}" for i in range(40)]

    async def notebook_cell():  # the kernel's loop is running; the user presses "interrupt"
        threading.Timer(0.7, os.kill, (os.getpid(), signal.SIGINT)).start()
        generate(prompts, cfg, cache=cache, progress=False)

    with FakeOpenAI(delay=0.2) as server:
        cfg = config(server, concurrency=2)
        loop = asyncio.new_event_loop()  # like ipykernel's: SIGINT raises KeyboardInterrupt (asyncio.run defers it)
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(notebook_cell())
        loop.close()
        with ResultCache(cache) as closed_and_unlocked:  # else CacheBusy
            answered = {r.messages[-1]["content"] for r in closed_and_unlocked.results.values()}
        assert 0 < len(answered) < len(prompts)
        results = generate(prompts, config(server, concurrency=16), cache=cache, progress=False)
    assert all(r.ok for r in results) and {r.messages[-1]["content"] for r in results if r.cached} == answered
    assert all(server.attempts[p] == 1 for p in answered)  # only the interrupted ones are asked again


@pytest.mark.parametrize("headers, seconds", [
    ({"retry-after": "2"}, 2.0), ({"retry-after-ms": "250"}, 0.25), ({"retry-after": "soon"}, None), ({}, None),
    ({"retry-after": "HTTP-DATE in an hour"}, 3600),
])
def test_retry_after_header_forms(headers, seconds):
    if headers.get("retry-after") == "HTTP-DATE in an hour":
        # built here, not at collection: slow tests may run between collection and this one
        headers = {"retry-after": email.utils.formatdate(time.time() + 3600, usegmt=True)}
    error = openai.RateLimitError("slow down", response=httpx2.Response(429, headers=headers,
                                  request=httpx2.Request("POST", "http://127.0.0.1/")), body=None)
    assert retry_after_seconds(error) == pytest.approx(seconds, abs=5)


@pytest.mark.parametrize("status, retried", [(400, False), (401, False), (404, False), (408, True), (429, True),
                                             (500, True), (503, True)])
def test_which_statuses_are_retried(status, retried):
    response = httpx2.Response(status, request=httpx2.Request("POST", "http://127.0.0.1/"))
    assert is_retryable(openai.APIStatusError("x", response=response, body=None)) is retried
