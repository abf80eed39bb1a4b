import pytest

from cookbook.data.questions import load_questions


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
