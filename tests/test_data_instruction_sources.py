import json
import re

import pytest

from cookbook.data.instruction_sources import (
    FormatError,
    language_of,
    load_instructions,
)
from cookbook.paths import project_root

SAMPLES = project_root() / "data" / "samples"


def test_alpaca_sample_appends_the_input_and_keeps_seeds_without_an_answer():
    records = load_instructions(SAMPLES / "instructions_alpaca.jsonl", "alpaca")
    assert [r.id for r in records] == ["alpaca-000001", "alpaca-000002", "alpaca-000003", "alpaca-000004"]
    assert records[1].instruction.startswith("Summarise the paragraph in one sentence.\n\nThe school garden")
    assert records[2].response is None and records[2].lang == "zh"  # an empty output is a seed
    assert records[3].response.startswith("* Turn off the tap") and records[3].lang == "en"


def test_sharegpt_sample_reads_the_first_human_turn_and_its_reply():
    records = load_instructions(SAMPLES / "instructions_sharegpt.jsonl", "sharegpt")
    assert [r.id for r in records] == ["sg-1", "sg-2", "sg-3"]
    assert records[0].instruction == "Explain what a carry is in column addition."  # the system turn is skipped
    assert records[1].response == "小李，明天请记得带书。" and records[1].lang == "zh"  # the first exchange only
    assert records[2].response is None


def test_distilqwen_sample_is_ready_made_sft_data():
    records = load_instructions(SAMPLES / "instructions_distilqwen.jsonl", "distilqwen")
    assert [r.lang for r in records] == ["en", "zh", "en"]
    assert all(r.response for r in records) and {r.source for r in records} == {"distilqwen"}


def test_fields_rename_the_columns():
    rows = [{"prompt": "Name a colour.", "completion": "Blue."}]
    [record] = load_instructions(rows, "alpaca", fields={"instruction": "prompt", "output": "completion"})
    assert (record.instruction, record.response) == ("Name a colour.", "Blue.")


@pytest.mark.parametrize("fmt, row, message", [
    ("alpaca", {"input": "x"}, "2: instruction: must be a non-empty string"),
    ("alpaca", {"instruction": "Do it.", "output": 3}, "2: output: must be a string, got int"),
    ("distilqwen", {"instruction": "Do it."}, "2: output: must be a non-empty string"),
    ("sharegpt", {"conversations": []}, "2: conversations: must be a non-empty list"),
    ("sharegpt", {"conversations": [{"value": "hi"}]}, "2: conversations[0].from: must name who speaks"),
    ("sharegpt", {"conversations": [{"from": "gpt", "value": "hi"}]}, "2: conversations: has no human turn"),
])
def test_a_bad_row_names_the_file_line_and_field(tmp_path, fmt, row, message):
    path = tmp_path / "seeds.jsonl"
    good = {"alpaca": {"instruction": "Fine."}, "distilqwen": {"instruction": "Fine.", "output": "Yes."},
            "sharegpt": {"conversations": [{"from": "human", "value": "Fine."}]}}[fmt]
    path.write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(FormatError, match=re.escape(f"{path}:{message}")):
        load_instructions(path, fmt)


def test_unknown_format_names_the_known_ones():
    with pytest.raises(ValueError, match="choose one of alpaca, sharegpt, distilqwen, ifeval"):
        load_instructions([], "openhermes")


@pytest.mark.parametrize("text, lang", [
    ("Write a note about Tom.", "en"),
    ("写一段关于汤姆的短文。", "zh"),
    ("用 Python 写一个 hello world 程序。", "zh"),  # Chinese with English words in it
    ("Écris une note sur Tom, s'il te plaît, à l'école.", "en"),  # Latin script counts as "en"
    ("Напиши заметку о Томе.", "other"),
    ("12 + 30 = ?", "other"),
])
def test_language_of(text, lang):
    assert language_of(text) == lang


def test_ifeval_rows_keep_their_constraints():
    rows = [{"key": 7, "prompt": "Write a note. Do not use any commas.", "instruction_id_list": ["punctuation:no_comma"],
             "kwargs": [{}], "lang": "en"}]
    [record] = load_instructions(rows, "ifeval")
    assert record.id == "7" and record.response is None
    assert record.meta == {"instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}
    with pytest.raises(FormatError, match="rows:1: kwargs: must be a list of 1 objects"):
        load_instructions([{**rows[0], "kwargs": []}], "ifeval")
