"""GRPO's frontier: which questions are kept, what is held out, and pass@1's error."""

import json
import math

import pytest

from cookbook.recipe import GRPOSection
from cookbook.train.frontier import pass_at_one, split_frontier


def rows(n):
    return [{"messages": [{"role": "user", "content": f"q{i}"}], "solution": str(i)} for i in range(n)]


def test_keeps_questions_right_sometimes_and_holds_out_the_first(tmp_path):
    counts = [0, 8, 3, 1, 7, 5, 0, 2]
    f = split_frontier(rows(8), counts, (1, 7), heldout=2, out_dir=tmp_path, samples=8)
    read = [[json.loads(line)["solution"] for line in p.read_text().splitlines()] for p in (f.heldout, f.train)]
    assert read == [["2", "3"], ["4", "5", "7"]]  # never right (0, 6) and always right (1) dropped
    assert f.histogram == [2, 1, 1, 1, 0, 1, 0, 1, 1] and f.rows == 8


def test_too_small_a_frontier_says_what_to_raise(tmp_path):
    with pytest.raises(ValueError, match="too few to hold out 5: give more data.rl_questions"):
        split_frontier(rows(4), [1, 2, 0, 8], (1, 7), heldout=5, out_dir=tmp_path, samples=8)


def test_pass_at_one_error_counts_problems_not_samples():
    p = pass_at_one([8, 0, 8, 0], samples=8)
    assert p.mean == 0.5 and p.problems == 4
    assert math.isclose(p.stderr, math.sqrt((4 * 0.25 / 3) / 4))  # 32 samples would claim 0.088
    assert pass_at_one([4, 4, 4, 4], 8).stderr == 0.0


def test_keep_cannot_ask_more_right_answers_than_samples():
    with pytest.raises(ValueError, match="more right answers than its 4 samples"):
        GRPOSection(frontier={"samples": 4, "keep": [1, 7], "heldout": 8})
