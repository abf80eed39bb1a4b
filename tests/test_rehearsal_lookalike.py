"""The rehearsal's look-alike of DeepSeek-R1's API answers the way the API does."""

from __future__ import annotations

import pytest

from cookbook.data.judges import apply_judgements, judge_requests
from cookbook.data.records import CoTRecord
from cookbook.rehearsal.lookalike import R1LookAlike
from cookbook.teacher import generate
from cookbook.teacher.config import TeacherConfig
from cookbook.teacher.endpoint import stream_chat
from cookbook.toy.problems import generate as toy_problems


@pytest.fixture
def lookalike(monkeypatch):
    monkeypatch.setenv("LOOKALIKE_KEY", "not-a-key")
    problems = toy_problems(40, {1: 0.5, 2: 0.5}, seed=3, split="t")
    server = R1LookAlike(problems, max_in_flight=2, retry_after=0.05).start()
    yield server, problems
    server.stop()


def config(server, **kw) -> TeacherConfig:
    return TeacherConfig(base_url=server.base_url, model=server.model, api_key_env="LOOKALIKE_KEY",
                         backoff_initial=0.05, **kw)


def test_streams_the_reasoning_beside_the_content_and_counts_reasoning_tokens(lookalike):
    server, problems = lookalike
    question = [{"role": "user", "content": problems[0].question + "\nPlease reason step by step."}]
    kinds = [kind for kind, _ in stream_chat(config(server), question)]
    assert kinds[0] == "reasoning" and kinds[-1] == "answer" and set(kinds) == {"reasoning", "answer"}
    [result] = generate([question], config(server), progress=False)
    assert result.ok and problems[0].digit_cot in result.reasoning and "\\boxed{" in result.answer
    assert result.usage["completion_tokens_details"]["reasoning_tokens"] == len(problems[0].digit_cot.split())


def test_answers_429_with_retry_after_under_load_and_every_request_still_lands(lookalike):
    server, problems = lookalike
    requests = [[{"role": "user", "content": p.question}] for p in problems]
    # 8 in flight against 2 slots: 6 attempts can all meet a 429, so this test allows more
    results = generate(requests, config(server, concurrency=8, max_attempts=30), progress=False)
    assert all(r.ok for r in results)
    assert server.counts["rate_limited"] > 0
    wrong = sum(f"\\boxed{{{p.answer}}}" not in r.answer for p, r in zip(problems, results))
    assert 0 < wrong < len(problems) // 2  # one in eight, by hash: verification has something to reject


def test_judge_prompts_get_parseable_scores_and_correctness_follows_the_truth(lookalike):
    server, problems = lookalike
    p = problems[0]
    right = CoTRecord(id="a", question=p.question, reasoning=p.digit_cot, answer=f"\\boxed{{{p.answer}}}")
    wrong = CoTRecord(id="b", question=p.question, reasoning=p.digit_cot, answer=f"\\boxed{{{p.answer + 1}}}")
    replies = generate(judge_requests([right, wrong]), config(server), progress=False)
    scored = apply_judgements([right, wrong], replies, judge_name="look-alike")
    assert [r.correct for r in scored] == [True, False]
    assert all(2 <= r.rv <= 6 and 3 <= r.cd <= 7 for r in scored)


def test_a_request_without_a_key_is_refused(lookalike):
    import json
    import urllib.error
    import urllib.request

    server, _ = lookalike
    body = json.dumps({"model": server.model, "messages": [{"role": "user", "content": "hi"}]}).encode()
    request = urllib.request.Request(server.base_url + "/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 401
