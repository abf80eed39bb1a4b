import pytest

from cookbook.data.judges import (
    LLMJudge,
    RuleBasedToyJudge,
    apply_judgements,
    judge_messages,
    judge_requests,
    parse_score,
    score_records,
)
from cookbook.data.records import CoTRecord
from cookbook.toy.problems import generate


@pytest.mark.parametrize("reply,low,high,expected", [
    ("Score: 7", 0, 9, 7),
    ("The chain repeats step 3 twice.\n**Score:** 6", 0, 9, 6),
    ("score = 4/9.", 0, 9, 4),
    ("First I thought Score: 2, but on reflection Score: 5", 0, 9, 5),  # the last label wins
    ("\\boxed{3}", 0, 9, 3),
    ("8", 0, 9, 8),
    ("  **1**  ", 0, 1, 1),
    ("Score: 12", 0, 9, None),  # out of range
    ("Score: 7.5", 0, 9, None),  # not an integer
    ("Step 3 is wrong and step 4 too.", 0, 9, None),  # stray numbers are not scores
    ("", 0, 9, None),
    (None, 0, 9, None),
])
def test_parse_score(reply, low, high, expected):
    assert parse_score(reply, low, high) == expected


def _toy(level, n=30):
    return generate(n, {level: 1.0}, seed=1, split="judge-test")


def _rec(p, reasoning, verified=None):
    return CoTRecord(id=p.id, question=p.question, reasoning=reasoning, answer=f"\\boxed{{{p.answer}}}",
                     ground_truth=str(p.answer), verified=verified)


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_rule_judge_orders_terse_fitting_and_verbose_chains(level):
    judge = RuleBasedToyJudge()
    for p in _toy(level):
        terse = judge.rv(_rec(p, p.short_cot))
        fitting = judge.rv(_rec(p, p.digit_cot))
        padded = p.digit_cot + "\nWait, let me check that again from the start.\n" + p.digit_cot
        verbose = judge.rv(_rec(p, padded + "\nHmm, once more to be sure.\n" + p.digit_cot))
        assert terse < fitting < judge.rv(_rec(p, padded)) <= verbose
        assert terse <= 2 and 3 <= fitting <= 5 and verbose >= 7


def test_rule_judge_cd_grows_with_the_work_and_correctness_is_verification():
    judge = RuleBasedToyJudge()
    cd = {level: {judge.cd(_rec(p, p.digit_cot)) for p in _toy(level)} for level in (1, 2, 4, 5)}
    assert max(cd[1]) < min(cd[2]) < min(cd[4]) < min(cd[5])
    p = _toy(1, 1)[0]
    assert judge.score(_rec(p, p.digit_cot, verified=True)).correct == 1
    assert judge.score(_rec(p, p.digit_cot, verified=False)).correct == 0
    assert judge.score(_rec(p, p.digit_cot)).correct is None
    assert "not an LLM" in judge.name


def test_llm_judge_asks_each_template_and_parses_replies():
    asked = []

    def chat(messages):
        text = messages[-1]["content"]
        asked.append(text)
        if "reasoning verbosity" in text:
            return "Fits the problem.\nScore: 4"
        if "cognitive difficulty" in text:
            return "I cannot tell."  # unparseable -> None, never a guess
        return {"content": "Sound.\nScore: 1"}

    r = CoTRecord(id="a", question="What is 2 + 3?", reasoning="2 + 3 = 5", answer="\\boxed{5}")
    scored = score_records([r], LLMJudge(chat, name="stub"))[0]
    assert (scored.rv, scored.cd, scored.judged_correct) == (4, None, 1)
    assert scored.meta["judge"] == "llm:stub" and len(asked) == 3
    assert "Final answer: 5" in judge_messages("correct", r)[-1]["content"]


def test_score_records_keeps_shipped_scores_and_asks_only_for_missing_ones():
    calls = []

    class Spy:
        name = "spy"

        def score(self, record, kinds):
            calls.append(kinds)
            from cookbook.data.judges import Scores
            return Scores(rv=9, cd=9, correct=0)

    shipped = CoTRecord(id="o", question="q", reasoning="r", answer="a", rv=4, cd=4)
    out = score_records([shipped], Spy())[0]
    assert (out.rv, out.cd, out.judged_correct) == (4, 4, 0) and calls == [("correct",)]
    out = score_records([shipped], Spy(), overwrite=True)[0]
    assert (out.rv, out.cd) == (9, 9)


def test_batch_path_matches_the_judge_and_counts_replies():
    records = [CoTRecord(id=str(i), question=f"What is {i} + 1?", reasoning="r", answer="a") for i in range(2)]
    requests = judge_requests(records, kinds=("rv", "cd"))
    assert len(requests) == 4 and "reasoning verbosity" in requests[0][-1]["content"]
    replies = ["Score: 3", "Score: 2", {"content": "Score: 6"}, "no idea"]
    scored = apply_judgements(records, replies, kinds=("rv", "cd"), judge_name="stub")
    assert [(r.rv, r.cd) for r in scored] == [(3, 2), (6, None)] and scored[0].meta["judge"] == "llm:stub"
    with pytest.raises(ValueError, match="3 replies for 2 records x 2 judgements"):
        apply_judgements(records, replies[:3], kinds=("rv", "cd"))
