import pytest
from pydantic import ValidationError

from cookbook.data.questions import load_questions, recipe_questions
from cookbook.recipe import DataSection


def test_load_questions_reads_both_spellings_and_limits(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "1+1?", "answer": 2}\n{"problem": "2+2?", "id": "b"}\n{"question": "3+3?"}\n')
    items = load_questions(path, limit=2)
    assert items == [{"id": "1", "question": "1+1?", "ground_truth": "2"},
                     {"id": "b", "question": "2+2?", "ground_truth": None}]


def test_a_row_without_question_names_file_line_and_field(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "1+1?"}\n{"text": "no question here"}\n')
    with pytest.raises(ValueError, match=r"q\.jsonl:2: question: must be a non-empty string"):
        load_questions(path)


def test_the_recipe_names_its_questions_a_file_or_a_tiny_world_split(tmp_path, world):
    """One call in notebooks 01 and 02 for every recipe: no branch on the profile's name."""
    path = tmp_path / "mine.jsonl"
    path.write_text('{"question": "1+1?", "answer": 2}\n')
    assert recipe_questions(DataSection(questions=str(path))) == [{"id": "1", "question": "1+1?", "ground_truth": "2"}]
    toy = recipe_questions(DataSection(questions="tiny-world:gsm8k_train"), limit=3)
    assert [q["question"] for q in toy] == [p.question for p in world.problems("gsm8k_train")[:3]]


def test_a_recipe_without_questions_is_told_what_to_set():
    """Before: notebook 01 read questions[0] of None (a TypeError) in every profile but tiny."""
    with pytest.raises(ValueError, match="data.questions is not set"):
        recipe_questions(DataSection())
    with pytest.raises(ValidationError, match="file not found"):
        DataSection(questions="no/such/questions.jsonl")
