"""Preference pairs from the student's own mistakes: the first wrong step, its gap and beta,
and the pairs notebook 05 trains on, sampled from the tiny world's real base student."""

import json

import pytest

from cookbook.io import read_jsonl
from cookbook.session import Session, start
from cookbook.toy.prompts import chat_messages, think_response
from cookbook.train import stage
from cookbook.train.own_mistakes import Mistake, find_mistakes, first_wrong_step, one_row_per_question, write_pairs

CHOSEN = "<think>\n12+35:\nones: 2+5+0=7, carry 0.\ntens: 1+3+0=4, carry 0.\n12+35=47.\n</think>\n\nThe answer is \\boxed{47}."


def test_the_reply_is_cut_after_its_first_wrong_line():
    reply = CHOSEN.replace("tens: 1+3+0=4", "tens: 1+3+0=5").replace("=47", "=57").replace("{47}", "{57}")
    cut, gap = first_wrong_step(reply, CHOSEN)
    assert cut == "<think>\n12+35:\nones: 2+5+0=7, carry 0.\ntens: 1+3+0=5, carry 0."
    assert gap == pytest.approx(5 / 8)  # the wrong line is the 4th of 8: it and the 4 after it were not right


def test_gap_runs_from_a_slip_in_the_first_line_to_one_after_the_last():
    assert first_wrong_step("<thinking>\n...", CHOSEN) == ("<thinking>", 1.0)
    longer = CHOSEN + "\nAnd one more line."
    assert first_wrong_step(longer, CHOSEN) == (longer, 0.0)
    assert first_wrong_step(CHOSEN.split("\n</think>")[0], CHOSEN) is None  # a prefix: cut short, no wrong step


def test_pairs_carry_a_beta_that_grows_with_the_gap(tmp_path):
    messages = chat_messages("Q?") + [{"role": "assistant", "content": CHOSEN}]
    mistakes = [Mistake(messages, "<think>\n13+35:", 7 / 8), Mistake(messages, "<think>\n12+35:\nones: 2+5+0=8", 0.0)]
    files = write_pairs(mistakes, tmp_path, (0.05, 0.2))
    dpo, cogpo = read_jsonl(files["dpo"]), read_jsonl(files["cogpo"])
    assert [r["rejected_response"] for r in dpo] == [m.rejected for m in mistakes]
    assert "beta" not in dpo[0] and [r["beta"] for r in cogpo] == [pytest.approx(0.05 + 0.15 * 7 / 8, abs=1e-4), 0.05]


def test_one_row_per_question_keeps_the_first(tmp_path):
    rows = [{"messages": chat_messages(q) + [{"role": "assistant", "content": c}], "rejected_response": "x"}
            for q, c in [("A?", "a1"), ("A?", "a2"), ("B?", "b")]]
    path = tmp_path / "dpo.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [r["messages"][-1]["content"] for r in one_row_per_question(path)] == ["a1", "b"]


@pytest.fixture
def teacher_rows(world):
    return [{"messages": chat_messages(p.question) + [{"role": "assistant", "content": think_response(p.digit_cot, p.answer)}],
             "rejected_response": "<think>\nno.\n</think>"} for p in world.problems("gsm8k_train")[:12]]


def test_the_base_students_mistakes_are_its_one_line_guesses(world, teacher_rows):
    mistakes, counts = find_mistakes(world.model_dir("student-base"), teacher_rows, samples=2, temperature=1.0,
                                     max_new_tokens=64, seed=0)
    assert counts["answers"] == 24 and counts["wrong"] >= 20  # the base student is almost never right
    assert 0 < counts["pairs"] == len(mistakes) <= counts["wrong"]
    for m in mistakes:
        lines = m.rejected.split("\n")
        chosen = m.messages[-1]["content"].split("\n")
        assert lines[:-1] == chosen[: len(lines) - 1] and lines[-1] != chosen[len(lines) - 1]
        assert "</think>" not in m.rejected  # cut before the end: what follows the slip is not rejected
    whole, _ = find_mistakes(world.model_dir("student-base"), teacher_rows, samples=2, temperature=1.0,
                             max_new_tokens=64, seed=0, cut=False)
    assert any("</think>" in m.rejected for m in whole)


def session_with_pairs_data(tmp_path, teacher_rows):
    """A tiny-recipe session whose stage data holds 02's dpo and cogpo files of ``teacher_rows``."""
    session = start("recipes/tiny.yaml", str(tmp_path / "run"))
    data = {name: session.run.stage_dir("data") / f"{name}.jsonl" for name in ("dpo", "cogpo")}
    for name, path in data.items():
        path.write_text("".join(json.dumps(r | ({"beta": 0.1} if name == "cogpo" else {})) + "\n" for r in teacher_rows))
    session.run.record("data", data)
    return session


def test_notebook_05_takes_the_recipes_pairs(world, teacher_rows, tmp_path):
    session = session_with_pairs_data(tmp_path, teacher_rows)
    files, counts = stage.preference_pairs(session, world.model_dir("student-base"))
    assert files["dpo"].parent == session.run.stage_dir("preference") and counts["questions"] == 12
    assert len(read_jsonl(files["cogpo"])) == counts["pairs"]
    plain = session.recipe.model_copy(update={"preference": session.recipe.preference.model_copy(
        update={"own_mistakes": None})})
    files, counts = stage.preference_pairs(Session(plain, session.run), world.model_dir("student-base"))
    assert counts is None and files["dpo"] == session.run.input("data", "dpo")


def test_rounds_of_questions_until_the_recipes_number_of_pairs(world, teacher_rows, tmp_path):
    """The number of pairs 05 trains on does not depend on how good the SFT student turned out."""
    session = session_with_pairs_data(tmp_path, teacher_rows)

    def pairs_with(**own):
        recipe = session.recipe.model_copy(update={"preference": session.recipe.preference.model_copy(
            update={"own_mistakes": session.recipe.preference.own_mistakes.model_copy(update=own)})})
        return stage.preference_pairs(Session(recipe, session.run), world.model_dir("student-base"))

    files, counts = pairs_with(questions=3, pairs=5)
    assert counts["pairs"] == 5 == len(read_jsonl(files["dpo"])) and counts["questions"] % 3 == 0
    _, every = pairs_with(questions=3, pairs=10_000)  # more than the pool holds: every question asked
    assert every["questions"] == len(teacher_rows) and every["pairs"] > 5
