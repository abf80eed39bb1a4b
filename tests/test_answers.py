import pytest

from cookbook.data.answers import extract_answer, is_correct, last_boxed


@pytest.mark.parametrize("text,expected", [
    ("so \\boxed{42}.", "42"),
    ("first \\boxed{1} then \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("reasoning\n#### 1,234", "1,234"),
    ("the total is 17 apples, then 23", "23"),
    ("no numbers here", None),
])
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_unbalanced_box_is_no_box():
    assert last_boxed("\\boxed{12") is None


@pytest.mark.parametrize("response,truth,ok", [
    ("<think>..</think>The answer is \\boxed{51}.", 51, True),
    ("\\boxed{0.5}", "1/2", True),
    ("\\boxed{52}", 51, False),
    ("", 51, False),
    ("#### 70", "70", True),
])
def test_is_correct(response, truth, ok):
    assert is_correct(response, truth) is ok
