import json

import pytest

from cookbook.data.loaders import FormatError, load_cots, load_mathr, load_numina, load_omnithought
from cookbook.data.selection import select
from cookbook.data.verify import verification_counts, verify
from cookbook.paths import project_root

SAMPLES = project_root() / "data" / "samples"


def test_omnithought_sample_one_record_per_chain_with_shipped_scores():
    records = load_omnithought(SAMPLES / "omnithought.jsonl")
    assert len(records) == 9 and {r.source for r in records} == {"omnithought"}
    first = records[0]
    assert first.id == "omni-1/0" and first.rv == 4 and first.cd == 1 and first.ground_truth == "41"
    assert "<think>" not in first.reasoning and first.answer == "The baker makes \\boxed{41} rolls."
    assert first.meta["rv_judge"] == "sample-judge"
    verified = verify(records)
    assert verification_counts(verified) == {"correct": 7, "wrong": 2, "unverified": 0}
    # the published ThoughtX example filter on the samples: correct, 3 <= RV <= 5, CD == 4
    sel = select(verified, correct="required", rv=(3, 5), cd=4)
    assert [r.id for r in sel.kept] == ["omni-2/0", "omni-3/0"]
    assert sel.dropped == {"cd outside 4": 2, "rv outside 3-5": 2, "wrong answer": 2, "duplicate question": 1}


def test_mathr_sample_strips_the_prompt_suffix():
    records = load_mathr(SAMPLES / "mathr.jsonl")
    assert len(records) == 6
    assert records[0].question == "A library has 350 books and buys 125 more. How many books does it have now?"
    assert records[0].reasoning.startswith("The library starts") and records[0].final_answer == "475"
    assert [r.verified for r in verify(records)] == [True] * 5 + [False]


def test_numina_sample_ground_truth_from_the_solution():
    records = load_numina(SAMPLES / "numina_cot.jsonl")
    assert len(records) == 6
    assert [r.ground_truth for r in records] == ["75", "177", "14", "\\frac{3}{4}", "6", "75"]
    assert records[0].meta == {"numina_source": "synthetic_math"}
    assert all(r.verified for r in verify(records))
    assert select(records, correct="any").dropped == {"duplicate question": 1}


def test_loaders_take_lists_of_dicts_and_dispatch_by_name():
    rows = [{"problem": "Compute $1 + 1$.", "solution": "$1 + 1 = \\boxed{2}$"}]
    assert load_cots(rows, "numina")[0].id == "numina-000001"
    with pytest.raises(ValueError, match="unknown CoT format"):
        load_cots(rows, "alpaca")


@pytest.mark.parametrize("loader,row,message", [
    (load_omnithought, {"question": "q", "reasoning": []}, r"rows:1: reasoning: must be a non-empty list"),
    (load_omnithought, {"question": "q", "reasoning": [{"full_response": "x",
                        "Reasoning_Verbosity": {"judge": "j", "level": 12}}]},
     r"rows:1: reasoning\[0\].Reasoning_Verbosity.level: must be an integer 0-9, got 12"),
    (load_omnithought, {"question": "q", "reasoning": [{"full_response": ""}]},
     r"rows:1: reasoning\[0\].full_response: must be a non-empty string"),
    (load_mathr, {"messages": [{"role": "user", "content": "q"}]}, r"rows:1: messages: has no assistant reply"),
    (load_numina, {"problem": "p"}, r"rows:1: solution: must be a non-empty string"),
])
def test_malformed_rows_fail_with_row_and_field(loader, row, message):
    with pytest.raises(FormatError, match=message):
        loader([row])


def test_bad_json_line_names_file_and_line(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"problem": "p", "solution": "\\boxed{1}"}) + "\n\n{oops\n")
    with pytest.raises(FormatError, match=r"x.jsonl:3: not valid JSON"):
        load_numina(path)
