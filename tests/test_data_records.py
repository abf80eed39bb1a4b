from dataclasses import replace
from types import SimpleNamespace

import pytest

from cookbook.data.generate import (
    apply_rewrite,
    cot_messages,
    cot_requests,
    generate_cots,
    records_from_replies,
    rewrite,
    rewrite_messages,
)
from cookbook.data.records import CoTRecord, load_records, record_from_reply, save_records, split_response


@pytest.mark.parametrize("reply,reasoning_content,expected", [
    ("<think>\n2 + 3 = 5\n</think>\n\nThe answer is \\boxed{5}.", None, ("2 + 3 = 5", "The answer is \\boxed{5}.")),
    ("2 + 3 = 5\n</think>\n\\boxed{5}", None, ("2 + 3 = 5", "\\boxed{5}")),  # opening tag in the template
    ("<think> 2 + 3 = 5 </think> <answer> \\boxed{5} </answer>", None, ("2 + 3 = 5", "\\boxed{5}")),
    ("\\boxed{5}", "2 + 3 = 5", ("2 + 3 = 5", "\\boxed{5}")),  # R1 API: reasoning arrives apart
    ("just 5", None, ("just 5", "")),
    ("<think>\n2 + 3 = ", None, ("2 + 3 =", "")),  # cut off while thinking
])
def test_split_response(reply, reasoning_content, expected):
    assert split_response(reply, reasoning_content) == expected


def test_response_is_the_thinking_format_and_records_round_trip(tmp_path):
    r = record_from_reply("What is 2 + 3?", "<think>2 + 3 = 5</think>The answer is \\boxed{5}.", id="a",
                          ground_truth=5, meta={"k": 1})
    assert r.response == "<think>\n2 + 3 = 5\n</think>\n\nThe answer is \\boxed{5}."
    assert r.final_answer == "5" and r.ground_truth == "5"
    save_records(tmp_path / "r.jsonl", [r, replace(r, id="b", rv=3, verified=True)])
    back = load_records(tmp_path / "r.jsonl")
    assert back[0] == r and back[0].meta == {"k": 1} and back[1].rv == 3 and back[1].verified is True


def test_generate_with_a_stub_teacher_and_samples():
    seen = []

    def chat(messages):
        seen.append(messages)
        return {"content": "\\boxed{5}", "reasoning_content": "2 + 3 = 5"}

    records, counts = generate_cots([{"id": "q1", "question": "What is 2 + 3?", "ground_truth": 5}], chat,
                                    samples=2)
    assert [r.id for r in records] == ["q1#0", "q1#1"] and counts["records"] == 2
    assert records[0].reasoning == "2 + 3 = 5" and records[0].ground_truth == "5"
    assert seen[0] == cot_messages("What is 2 + 3?")


def test_rewrite_keeps_question_resets_scores_and_records_provenance():
    r = CoTRecord(id="x", question="What is 2 + 3?", reasoning="long " * 50 + "so 5", answer="\\boxed{5}",
                  ground_truth="5", verified=True, rv=8, cd=1)
    messages = rewrite_messages(r, "long2short")
    assert "long long" in messages[-1]["content"]
    assert "Final answer of the worked solution: 5" in messages[-1]["content"]
    short = rewrite([r], lambda m: "<think>2 + 3 = 5</think>\\boxed{5}", "long2short")[0][0]
    assert short.reasoning == "2 + 3 = 5" and short.question == r.question
    assert (short.verified, short.rv, short.cd) == (None, None, None)
    assert short.meta == {"rewritten_from": "x", "rewrite": "long2short"}
    with pytest.raises(ValueError, match="unknown rewrite"):
        rewrite_messages(r, "sideways")
    with pytest.raises(ValueError, match="unknown rewrite"):
        apply_rewrite(r, "x", "sideways")


def test_records_from_teacher_results_count_what_cannot_be_used():
    # shaped like cookbook.teacher's Result: status, finish_reason, content, reasoning
    def result(content, reasoning=None, status="ok", finish_reason="stop"):
        return SimpleNamespace(content=content, reasoning=reasoning, status=status, finish_reason=finish_reason)

    items = [{"id": "a", "question": "What is 2 + 3?", "ground_truth": "5"},
             {"id": "b", "question": "What is 1 + 1?", "ground_truth": "2"}]
    assert len(cot_requests(items, samples=2)) == 4
    replies = [result("<think>2 + 3 = 5</think>\\boxed{5}"), result(None, status="failed"),
               result("<think>1 + 1", finish_reason="length"), {"content": "\\boxed{2}", "reasoning": "1 + 1 = 2"}]
    records, counts = records_from_replies(items, replies, samples=2)
    assert [(r.id, r.reasoning) for r in records] == [("a#0", "2 + 3 = 5"), ("b#1", "1 + 1 = 2")]
    assert counts == {"records": 2, "failed": 1, "cut off": 1, "empty": 0}
    with pytest.raises(ValueError, match="3 replies for 2 questions x 2 samples"):
        records_from_replies(items, replies[:3], samples=2)


@pytest.mark.parametrize("content", [
    "<answer>\nThe final answer is $\\boxed{5}$.\n</answer>",  # as in the ModelScope tutorial's sample output
    "<answer>5</answer>\n\nSo the answer is \\boxed{5}.",  # boxed after the tags
])
def test_an_r1_answer_in_answer_tags_keeps_its_boxed_answer_in_the_sft_target(content):
    """The R1 system prompt asks for <answer> tags; the SFT row must still end in a \\boxed{}
    answer the student learns to write, and verification must read the same number."""
    from cookbook.data.formats import sft_row

    r = record_from_reply("What is 2 + 3?", content, reasoning_content="2 + 3 = 5", id="a", ground_truth=5)
    target = sft_row(r)["messages"][-1]["content"]
    assert target.startswith("<think>\n2 + 3 = 5\n</think>") and "\\boxed{5}" in target
    assert r.final_answer == "5"
