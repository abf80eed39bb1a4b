import pytest

from cookbook.data.records import CoTRecord
from cookbook.data.verify import preference_pairs, verification_counts, verify


def rec(id, question, answer, truth="5", reasoning="work"):
    return CoTRecord(id=id, question=question, reasoning=reasoning, answer=answer, ground_truth=truth)


def test_verify_uses_boxed_hashes_and_last_number():
    records = verify([
        rec("a", "q", "The answer is \\boxed{5}."),
        rec("b", "q", "#### 5"),
        rec("c", "q", "", reasoning="2 + 3 = 5"),  # no answer text: judged on the reasoning
        rec("d", "q", "\\boxed{6}"),
        rec("e", "q", "\\boxed{0.5}", truth="1/2"),  # math-verify equivalence
        rec("f", "q", "\\boxed{5}", truth=None),
    ])
    assert [r.verified for r in records] == [True, True, True, False, True, None]
    assert verification_counts(records) == {"correct": 4, "wrong": 1, "unverified": 1}


def test_pairs_chosen_verified_rejected_wrong_same_question():
    records = verify([
        rec("q1-good", "What is 2 + 3?", "\\boxed{5}"),
        rec("q1-bad", "what is 2 + 3 ", "\\boxed{6}"),  # same question once normalised
        rec("q2-good", "What is 1 + 4?", "\\boxed{5}"),  # no wrong chain
        rec("q3-bad", "What is 4 + 1?", "\\boxed{7}"),  # no verified chain
        rec("q4-none", "What is 0 + 5?", "\\boxed{5}", truth=None),
    ])
    pairs, counts = preference_pairs(records, beta=0.2)
    assert [(p.chosen.id, p.rejected.id, p.beta) for p in pairs] == [("q1-good", "q1-bad", 0.2)]
    assert counts == {"pairs": 1, "questions paired": 1, "questions without a verified chain": 1,
                      "questions without a wrong chain": 1, "questions unverified": 1}


def test_several_pairs_spread_over_chains_and_beta_rule():
    records = verify([rec(f"g{i}", "q", "\\boxed{5}", reasoning=f"good {i}") for i in range(2)]
                     + [rec(f"b{i}", "q", f"\\boxed{{{6 + i}}}", reasoning=f"bad {i}") for i in range(2)])
    pairs, counts = preference_pairs(records, max_pairs_per_question=3,
                                     beta=lambda c, r: 0.1 if c.id == "g0" else 0.3)
    assert [(p.chosen.id, p.rejected.id) for p in pairs] == [("g0", "b0"), ("g0", "b1"), ("g1", "b0")]
    assert [p.beta for p in pairs] == [0.1, 0.1, 0.3] and counts["pairs"] == 3
    with pytest.raises(ValueError, match="beta must be positive"):
        preference_pairs(records, beta=0)
