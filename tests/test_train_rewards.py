"""GRPO's verifiable rewards, and their registration as ms-swift reward plugins."""

import runpy

import pytest

from cookbook.train import rewards as R
from cookbook.train.args import PLUGIN_DIR, REWARD_FUNCS

GOOD = "<think>\n12+30:\nones: 2+0+0=2, carry 0.\ntens: 1+3+0=4, carry 0.\n12+30=42.\n</think>\n\nThe answer is \\boxed{42}."


def test_accuracy_uses_the_last_boxed_answer_and_math_verify():
    completions = [GOOD, GOOD.replace("{42}", "{43}"), "The answer is \\boxed{42.0}", "no answer", "\\boxed{1/2}"]
    assert R.accuracy_rewards(completions, ["42", "42", 42, "42", "0.5"]) == [1.0, 0.0, 1.0, 0.0, 1.0]


@pytest.mark.parametrize("text, ok", [
    (GOOD, True),
    ("  " + GOOD + "\n", True),
    (GOOD.replace("\\boxed{42}", "42"), False),                          # no boxed answer
    ("The answer is \\boxed{42}.", False),                                # no reasoning
    ("<think>\n</think>\nThe answer is \\boxed{42}.", False),             # empty reasoning
    ("<think>a</think> \\boxed{4} <think>b</think> \\boxed{4}", False),   # two think blocks
    ("<think>a \\boxed{4}</think> the end", False),                      # boxed only inside the thinking
    ("x <think>a</think> \\boxed{4}", False),                             # text before <think>
])
def test_format(text, ok):
    assert R.is_well_formed(text) is ok
    assert R.format_rewards([text]) == [float(ok)]


def test_overlong_penalty_is_zero_then_linear_to_minus_one():
    assert R.overlong_rewards([0, 192, 224, 256, 400], max_tokens=256, buffer=64) == [0.0, 0.0, -0.5, -1.0, -1.0]
    with pytest.raises(ValueError):
        R.overlong_penalty(10, max_tokens=64, buffer=64)


def test_plugin_registers_the_rewards_in_ms_swift():
    from swift.rewards import orms

    runpy.run_path(str(PLUGIN_DIR / "rewards_plugin.py"))
    assert set(REWARD_FUNCS.values()) <= set(orms)
    args = type("Args", (), {"soft_max_length": 256, "soft_cache_length": 64})()
    assert orms["cookbook_accuracy"](args)([GOOD, "\\boxed{1}"], solution=["42", "42"]) == [1.0, 0.0]
    assert orms["cookbook_format"](args)([GOOD, "x"]) == [1.0, 0.0]
    overlong = orms["cookbook_overlong"](args)
    assert overlong(["a", "b"], response_token_ids=[[1] * 100, [1] * 224]) == [0.0, -0.5]
