import re

import pytest

from cookbook.toy.problems import LEVELS, column_arithmetic, generate


def _eval_cot_result(cot: str) -> int:
    # the last "a op b = c." line carries the final result
    return int(re.findall(r"=(\d+)\.$", cot.strip())[-1])


def test_same_seed_same_problems_other_seed_other_problems():
    a = generate(50, {1: 1.0, 2: 1.0}, seed=3, split="x")
    assert a == generate(50, {1: 1.0, 2: 1.0}, seed=3, split="x")
    assert a != generate(50, {1: 1.0, 2: 1.0}, seed=4, split="x")


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_answers_follow_the_steps_and_the_cot_reaches_them(level):
    for p in generate(200, {level: 1.0}, seed=0, split="t"):
        value = p.start
        for op, n in p.steps:
            value = value + n if op == "+" else value - n
            assert 0 <= value <= 999
        assert value == p.answer
        assert len(p.steps) == LEVELS[level][0]
        assert _eval_cot_result(p.digit_cot) == p.answer
        assert p.short_cot.endswith(f"= {p.answer}.")
        assert str(p.start) in p.question


@pytest.mark.parametrize("a,op,b", [(99, "+", 1), (100, "-", 1), (7, "+", 5), (905, "-", 96), (450, "+", 549)])
def test_column_arithmetic_is_right_in_every_column(a, op, b):
    lines = column_arithmetic(a, op, b)
    assert lines[0] == f"{a}{op}{b}:"
    assert lines[-1] == f"{a}{op}{b}={a + b if op == '+' else a - b}."
    # every column line is itself a true equation
    for line in lines[1:-1]:
        m = re.match(r"\w+: (\d+)([+-])(\d+)[+-](\d+)=(-?\d+)", line)
        if m:
            x, o, y, c, r = m.groups()
            assert (int(x) + int(y) + int(c) if o == "+" else int(x) - int(y) - int(c)) == int(r)


def test_excluded_questions_are_never_drawn():
    test = generate(100, {1: 1.0}, seed=0, split="test")
    train = generate(500, {1: 1.0}, seed=0, split="train", exclude={p.question for p in test})
    assert not {p.question for p in test} & {p.question for p in train}
    assert len({p.question for p in train}) == 500


def test_impossible_request_fails_clearly(monkeypatch):
    import cookbook.toy.problems as problems

    same = generate(1, {1: 1.0}, seed=0, split="x")[0]
    monkeypatch.setattr(problems, "make_problem", lambda *a: same)  # a space of one problem
    with pytest.raises(ValueError, match="cannot draw 2 distinct problems"):
        problems.generate(2, {1: 1.0}, seed=0, split="x")


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_the_teachers_three_styles_reach_the_answer_and_differ_in_length(level):
    for p in generate(100, {level: 1.0}, seed=0, split="styles"):
        assert _eval_cot_result(p.verbose_cot) == p.answer
        assert p.terse_cot.endswith(f"-> {p.answer}.")
        assert len(p.terse_cot) < len(p.digit_cot) < len(p.verbose_cot)
        assert p.verbose_cot.startswith("Let me read the question again.") and p.verbose_cot.count("double-check") == 1
        for line in p.terse_cot.splitlines()[1:]:  # each column sum in a terse line is true
            for x, op, y, carry, s in re.findall(r"(\d)([+-])(\d)([+-]1)?=(\d+)", line):
                value = int(x) + int(y) + (1 if carry else 0) if op == "+" else (int(x) - int(y) - (1 if carry else 0)) % 10
                assert value == int(s), line
