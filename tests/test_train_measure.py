"""The paired count of changed answers that tells a stage's drop in accuracy from chance."""

import pytest

from cookbook.eval.quick import Score
from cookbook.train.measure import change_metrics, changed_answers, mcnemar_p
from tests.demo_results import significantly_lower


def score(correct):
    return Score(sum(correct) / len(correct), len(correct), [""] * len(correct), correct)


def test_broken_and_fixed_count_the_problems_that_changed():
    before, after = score([True, True, False, False, True]), score([True, False, True, False, False])
    assert changed_answers(before, after) == {"broken": 2, "fixed": 1}
    assert change_metrics(before, {"dpo": after, "same": before}) == {
        "broken_dpo": 2, "fixed_dpo": 1, "broken_same": 0, "fixed_same": 0}
    with pytest.raises(ValueError, match="different problem sets"):
        changed_answers(before, score([True]))


@pytest.mark.parametrize("broken, fixed, lower", [
    (12, 5, False),   # 40.5% -> 37%: chance gives 12 or more of 17 broken with p = 0.07
    (7, 2, False),    # GRPO at 0.6: p = 0.09
    (4, 0, False),    # four problems lost and none won: p = 0.06, too few to tell
    (6, 0, True),     # p = 0.016
    (12, 2, True),    # GRPO sampling at 1.0: p = 0.006
    (25, 9, True),    # DPO at 1e-4 on whole wrong answers: p = 0.004
])
def test_a_drop_counts_when_it_is_beyond_chance(broken, fixed, lower):
    assert significantly_lower({"gsm8k_broken": broken, "gsm8k_fixed": fixed}) is lower


@pytest.mark.parametrize("questions", [3, 16, 43, 172])
def test_held_out_pairs_are_a_fixed_share_of_whole_questions(tmp_path, questions):
    import json

    from cookbook.io import read_jsonl
    from cookbook.train.measure import split_heldout

    # 1 to 3 pairs per question, as the SFT student's distinct mistakes come
    rows = [{"messages": [{"role": "user", "content": f"question {q}"}, {"role": "assistant", "content": "c"}],
             "rejected_response": f"wrong {k}"} for q in range(questions) for k in range(1 + q % 3)]
    path = tmp_path / "own_dpo.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    train, held = (read_jsonl(p) for p in split_heldout(path, tmp_path / "out"))
    assert len(train) + len(held) == len(rows)
    assert len(rows) / 10 <= len(held) < len(rows) / 10 + 3  # at least one in ten, whole questions
    asked = lambda part: {r["messages"][0]["content"] for r in part}  # noqa: E731
    assert not asked(train) & asked(held)


@pytest.mark.parametrize("broken,fixed,p", [(6, 0, 0.03125), (0, 6, 0.03125), (7, 2, 0.1797), (19, 20, 1.0), (0, 0, 1.0)])
def test_mcnemar_p_is_the_two_sided_exact_binomial_tail_of_the_changed_answers(broken, fixed, p):
    assert mcnemar_p(broken, fixed) == pytest.approx(p, abs=1e-4)
