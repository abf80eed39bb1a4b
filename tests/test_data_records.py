from dataclasses import replace

import pytest

from cookbook.data.generate import apply_rewrite, cot_messages, generate_cots, rewrite, rewrite_messages
from cookbook.data.records import CoTRecord, load_records, record_from_reply, save_records, split_response


@pytest.mark.parametrize("reply,reasoning_content,expected", [
    ("<think>\n2 + 3 = 5\n</think>\n\nThe answer is \\boxed{5}.", None, ("2 + 3 = 5", "The answer is \\boxed{5}.")),
    ("2 + 3 = 5\n</think>\n\\boxed{5}", None, ("2 + 3 = 5", "\\boxed{5}")),  # opening tag in the template
    ("<think> 2 + 3 = 5 </think> <answer> \\boxed{5} </answer>", None, ("2 + 3 = 5", "\\boxed{5}")),
    ("\\boxed{5}", "2 + 3 = 5", ("2 + 3 = 5", "\\boxed{5}")),  # R1 API: reasoning arrives apart
    ("just 5", None, ("just 5", "")),
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

    records = generate_cots([{"id": "q1", "question": "What is 2 + 3?", "ground_truth": 5}], chat, samples=2)
    assert [r.id for r in records] == ["q1#0", "q1#1"]
    assert records[0].reasoning == "2 + 3 = 5" and records[0].ground_truth == "5"
    assert seen[0] == cot_messages("What is 2 + 3?")


def test_rewrite_keeps_question_resets_scores_and_records_provenance():
    r = CoTRecord(id="x", question="What is 2 + 3?", reasoning="long " * 50 + "so 5", answer="\\boxed{5}",
                  ground_truth="5", verified=True, rv=8, cd=1)
    messages = rewrite_messages(r, "long2short")
    assert "long long" in messages[-1]["content"] and "Final answer of the worked solution: 5" in messages[-1]["content"]
    short = rewrite([r], lambda m: "<think>2 + 3 = 5</think>\\boxed{5}", "long2short")[0]
    assert short.reasoning == "2 + 3 = 5" and short.question == r.question
    assert (short.verified, short.rv, short.cd) == (None, None, None)
    assert short.meta == {"rewritten_from": "x", "rewrite": "long2short"}
    with pytest.raises(ValueError, match="unknown rewrite"):
        rewrite_messages(r, "sideways")
    with pytest.raises(ValueError, match="unknown rewrite"):
        apply_rewrite(r, "x", "sideways")
