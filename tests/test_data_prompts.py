import pytest

from cookbook.data.prompts import TemplateError, load_template, render, template_names

SHIPPED = {"cot_generation", "cot_long2short", "cot_short2long", "instruction_expansion",
           "instruction_refinement", "instruction_extraction", "judge_reasoning_verbosity",
           "judge_cognitive_difficulty", "judge_logical_correctness"}


def test_every_template_is_shipped_and_loads():
    assert SHIPPED <= set(template_names())
    for name in template_names():
        t = load_template(name)
        assert t.name == name and t.user.strip() and t.system
        assert t.placeholders  # every shipped prompt takes at least one value


def test_cot_generation_renders_the_tutorial_prompt():
    messages = render("cot_generation", question="What is 2 + 3?")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "<think>" in messages[0]["content"] and "<answer>" in messages[0]["content"]
    assert messages[1]["content"] == ("What is 2 + 3?\nPlease reason step by step, "
                                      "and put your final answer within \\boxed{}.")


def test_missing_placeholder_fails_naming_template_and_value():
    with pytest.raises(TemplateError, match=r"cot_long2short.*missing value\(s\) for answer"):
        render("cot_long2short", question="q", reasoning="r")


def test_unexpected_value_fails():
    with pytest.raises(TemplateError, match="unexpected value"):
        render("cot_generation", question="q", qestion="typo")


def test_values_are_inserted_literally():
    # a question that contains a placeholder-like text is not expanded again
    text = load_template("cot_long2short").render_user(question="Find {answer}.", reasoning="r", answer="7")
    assert "Find {answer}." in text and "Final answer of the worked solution: 7" in text


def test_judges_declare_their_scale():
    assert load_template("judge_reasoning_verbosity").score_range == (0, 9)
    assert load_template("judge_cognitive_difficulty").score_range == (0, 9)
    assert load_template("judge_logical_correctness").score_range == (0, 1)


def test_user_template_file_is_checked_on_load(tmp_path):
    good = tmp_path / "mine.yaml"
    good.write_text("name: mine\nplaceholders: [topic]\nuser: 'Explain {topic} and \\boxed{}'\n")
    assert render(good, topic="carries") == [{"role": "user", "content": "Explain carries and \\boxed{}"}]
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nplaceholders: [topic]\nuser: 'Explain {topc}'\n")
    with pytest.raises(TemplateError, match="undeclared placeholder.*topc"):
        load_template(bad)
    with pytest.raises(TemplateError, match="no prompt template named 'nope'"):
        load_template("nope")
