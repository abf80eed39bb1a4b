import pytest

from cookbook.data.records import CoTRecord
from cookbook.data.selection import THOUGHTX_EXAMPLE, dedup, mix, normalize_question, select


def rec(i, question="q", verified=True, rv=4, cd=4, reasoning="r", judged=None):
    return CoTRecord(id=str(i), question=question, reasoning=reasoning, answer="\\boxed{1}",
                     verified=verified, rv=rv, cd=cd, judged_correct=judged)


def test_normalize_question():
    assert normalize_question("  What is\n2 + 3 ?") == normalize_question("what is 2 + 3") == "what is 2 + 3"
    assert normalize_question("Ｗhat is 2 + 3?") == "what is 2 + 3"  # full-width letters (NFKC)
    assert normalize_question("What is 2+3") != normalize_question("What is 2 + 3")  # words are not rewritten


def test_thoughtx_example_filter_and_counts_add_up():
    records = [
        rec(1, "q1"),                      # kept
        rec(2, "q2", verified=False),      # wrong answer
        rec(3, "q3", verified=None),       # correctness unknown
        rec(4, "q4", verified=None, judged=1),  # judged correct: kept
        rec(5, "q5", rv=7),                # rv outside 3-5
        rec(6, "q6", rv=None),             # rv unknown
        rec(7, "q7", cd=3),                # cd outside 4
        rec(8, "Q1 "),                     # duplicate of q1
        rec(9, "q9", rv=2, cd=5),          # first failing check wins: rv
    ]
    sel = select(records, **THOUGHTX_EXAMPLE)
    assert [r.id for r in sel.kept] == ["1", "4"]
    assert sel.dropped == {"wrong answer": 1, "correctness unknown": 1, "rv outside 3-5": 2, "rv unknown": 1,
                           "cd outside 4": 1, "duplicate question": 1}
    assert sel.counts["input"] == len(records) == len(sel.kept) + sum(sel.dropped.values())


def test_not_wrong_keeps_unverified_and_length_budgets():
    records = [rec(1, "a", verified=None), rec(2, "b", reasoning="x" * 500), rec(3, "c", verified=False)]
    sel = select(records, correct="not_wrong", max_chars=200)
    assert [r.id for r in sel.kept] == ["1"]
    assert sel.dropped == {"longer than 200 characters": 1, "wrong answer": 1}
    sel = select(records, correct="any", max_tokens=50, count_tokens=lambda s: len(s.split("x")))
    assert sel.dropped == {"longer than 50 tokens": 1}
    with pytest.raises(ValueError, match="count_tokens"):
        select(records, max_tokens=10)


def test_dedup_keeps_the_first_n_per_question():
    records = [rec(i, "Same question?" if i % 2 else "Other") for i in range(6)]
    sel = dedup(records, max_per_question=2)
    assert [r.id for r in sel.kept] == ["0", "1", "2", "3"] and sel.dropped == {"duplicate question": 2}


def test_a_record_dropped_for_rv_does_not_use_up_its_question():
    sel = select([rec(1, "q", rv=9), rec(2, "q")], rv=(3, 5))
    assert [r.id for r in sel.kept] == ["2"]


def test_mix_draws_quotas_per_cd_level():
    records = [rec(i, f"q{i}", cd=i % 3) for i in range(30)]
    sel = mix(records, by="cd", quotas={0: 4, 1: 20})
    kept_cd = [r.cd for r in sel.kept]
    assert kept_cd.count(0) == 4 and kept_cd.count(1) == 10 and 2 not in kept_cd
    assert sel.dropped == {"over quota": 6, "not in the mix": 10}
    assert mix(records, by="cd", quotas={0: 4}, seed=0).kept == mix(records, by="cd", quotas={0: 4}, seed=0).kept
