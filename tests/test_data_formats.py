import json

import pytest

from cookbook.data.formats import (
    DatasetRowError,
    cogpo_row,
    dpo_row,
    grpo_row,
    kd_row,
    quarantine_path,
    sft_row,
    validate_file,
    write_cogpo,
    write_dpo,
    write_grpo,
    write_kd,
    write_rows,
    write_sft,
)
from cookbook.data.records import CoTRecord
from cookbook.data.verify import PreferencePair
from cookbook.io import read_jsonl

GOOD = CoTRecord(id="g", question="What is 2 + 3?", reasoning="2 + 3 = 5", answer="\\boxed{5}", ground_truth="5")
BAD = CoTRecord(id="b", question="What is 2 + 3?", reasoning="2 + 3 = 6", answer="\\boxed{6}", ground_truth="5")
USER = {"role": "user", "content": "q"}
ASSISTANT = {"role": "assistant", "content": "a"}


def test_rows_built_from_records_are_valid_ms_swift_rows(tmp_path):
    pair = PreferencePair(GOOD.question, GOOD, BAD, beta=0.3)
    sft = sft_row(GOOD)
    assert sft["messages"][0] == {"role": "user", "content": "What is 2 + 3?\nPlease reason step by step, "
                                                              "and put your final answer within \\boxed{}."}
    assert sft["messages"][1] == {"role": "assistant", "content": GOOD.response}
    assert sft_row(GOOD, system="Be brief.")["messages"][0] == {"role": "system", "content": "Be brief."}
    assert dpo_row(pair)["rejected_response"] == BAD.response
    assert cogpo_row(pair)["beta"] == 0.3
    assert grpo_row(GOOD.question, 5) == {"messages": [sft["messages"][0]], "solution": "5"}
    for write, row in [(write_sft, sft), (write_kd, kd_row(GOOD)), (write_dpo, dpo_row(pair)),
                       (write_cogpo, cogpo_row(pair)), (write_grpo, grpo_row(GOOD.question, "5"))]:
        result = write(tmp_path / "x.jsonl", [row])
        assert (result.written, result.quarantined, result.quarantine_path) == (1, 0, None)
        assert read_jsonl(tmp_path / "x.jsonl") == [row]


def test_sft_round_trip_keeps_every_row_in_order(tmp_path):
    records = [CoTRecord(id=str(i), question=f"What is {i} + 1?", reasoning=f"{i} + 1 = {i + 1}",
                         answer=f"\\boxed{{{i + 1}}}") for i in range(20)]
    result = write_sft(tmp_path / "sft.jsonl", [sft_row(r) for r in records])
    assert result.written == 20 and validate_file(tmp_path / "sft.jsonl", "sft") == 20
    back = read_jsonl(tmp_path / "sft.jsonl")
    assert [row["messages"][-1]["content"] for row in back] == [r.response for r in records]
    assert [row["messages"][0]["content"].split("\n")[0] for row in back] == [r.question for r in records]


BAD_ROWS = [
    ("sft", {"messages": [USER, {"role": "assistant", "content": ""}]}, "messages[1].content",
     "must be a non-empty string"),
    ("sft", {"messages": [USER, {"role": "assistant", "content": 5}]}, "messages[1].content",
     "must be a non-empty string"),
    ("sft", {"messages": []}, "messages", "must be a non-empty list"),
    ("sft", {}, "messages", "missing"),
    ("sft", {"messages": [USER, ASSISTANT], "id": 3}, "id", "unexpected field"),
    ("sft", {"messages": [USER, {"role": "bot", "content": "a"}]}, "messages[1].role", "must be one of"),
    ("sft", {"messages": [USER, ASSISTANT, {"role": "system", "content": "s"}]}, "messages[2].role",
     "'system' is only allowed as the first message"),
    ("sft", {"messages": [USER, USER, ASSISTANT]}, "messages[1].role", "expected 'assistant'"),
    ("sft", {"messages": [ASSISTANT]}, "messages[0].role", "expected 'user'"),
    ("sft", {"messages": [USER]}, "messages[0].role", "must end with the assistant reply"),
    ("sft", {"messages": [USER, {"role": "assistant", "content": "a", "name": "x"}]}, "messages[1].name",
     "unexpected field"),
    ("sft", ["not", "a", "dict"], "row", "must be a JSON object"),
    ("dpo", {"messages": [USER, ASSISTANT]}, "rejected_response", "missing"),
    ("dpo", {"messages": [USER, ASSISTANT], "rejected_response": "a"}, "rejected_response", "must differ"),
    ("dpo", {"messages": [USER, ASSISTANT], "rejected_response": ""}, "rejected_response",
     "must be a non-empty string"),
    ("cogpo", {"messages": [USER, ASSISTANT], "rejected_response": "b", "beta": 0}, "beta",
     "must be a positive number"),
    ("cogpo", {"messages": [USER, ASSISTANT], "rejected_response": "b", "beta": True}, "beta",
     "must be a positive number"),
    ("cogpo", {"messages": [USER, ASSISTANT], "rejected_response": "b", "beta": float("nan")}, "beta",
     "must be a positive number"),
    ("grpo", {"messages": [USER, ASSISTANT], "solution": "5"}, "messages[1].role", "must end with the user message"),
    ("grpo", {"messages": [USER], "solution": None}, "solution", "must be a non-empty string"),
    ("kd", {"messages": [USER, {"role": "assistant", "content": "   "}]}, "messages[1].content",
     "must be a non-empty string"),
]


@pytest.mark.parametrize("fmt,bad,field,problem", BAD_ROWS)
def test_bad_row_fails_with_file_line_and_field(tmp_path, fmt, bad, field, problem):
    good = {"sft": {"messages": [USER, ASSISTANT]}, "kd": {"messages": [USER, ASSISTANT]},
            "dpo": {"messages": [USER, ASSISTANT], "rejected_response": "b"},
            "cogpo": {"messages": [USER, ASSISTANT], "rejected_response": "b", "beta": 0.1},
            "grpo": {"messages": [USER], "solution": "5"}}[fmt]
    path = tmp_path / "data" / f"{fmt}.jsonl"
    with pytest.raises(DatasetRowError) as err:
        write_rows(path, [good, good, bad, good], fmt)
    assert str(err.value).startswith(f"{path}:3: {field}: {problem}")
    assert (err.value.line, err.value.field) == (3, field)
    assert not path.exists()  # nothing half-written


def test_quarantine_sets_bad_rows_aside_with_reasons(tmp_path):
    path = tmp_path / "sft.jsonl"
    rows = [{"messages": [USER, ASSISTANT]}, {"messages": [USER]},
            {"messages": [USER, ASSISTANT]}, {"messages": [USER, {"role": "assistant", "content": ""}]}]
    with pytest.raises(DatasetRowError, match=r"sft.jsonl:2: .*\(1 more bad row; write with on_error="):
        write_sft(path, rows)
    result = write_sft(path, rows, on_error="quarantine")
    assert (result.written, result.quarantined) == (2, 2)
    assert result.quarantine_path == quarantine_path(path) == tmp_path / "sft.quarantine.jsonl"
    assert read_jsonl(path) == [rows[0], rows[2]]
    assert read_jsonl(result.quarantine_path) == [
        {"line": 2, "field": "messages[0].role", "reason": "must end with the assistant reply to learn",
         "row": rows[1]},
        {"line": 4, "field": "messages[1].content", "reason": "must be a non-empty string", "row": rows[3]},
    ]
    # a clean rewrite removes the stale quarantine file instead of leaving it to mislead
    assert write_sft(path, [rows[0]], on_error="quarantine").quarantine_path is None
    assert not quarantine_path(path).exists()


def test_unserialisable_row_is_quarantined_as_repr(tmp_path):
    rows = [{"messages": [USER, ASSISTANT], "rejected_response": "b", "beta": 0.1},
            {"messages": [USER, ASSISTANT], "rejected_response": "b", "beta": 0.1, "extra": object()}]
    result = write_cogpo(tmp_path / "c.jsonl", rows, on_error="quarantine")
    q = read_jsonl(result.quarantine_path)[0]
    assert q["field"] == "extra" and isinstance(q["row"], str)


def test_all_rows_bad_is_an_error_not_an_empty_file(tmp_path):
    with pytest.raises(ValueError, match="no valid rows to write"):
        write_sft(tmp_path / "s.jsonl", [{"messages": []}], on_error="quarantine")
    assert not (tmp_path / "s.jsonl").exists() and quarantine_path(tmp_path / "s.jsonl").exists()


def test_validate_file_reports_the_real_line(tmp_path):
    path = tmp_path / "user.jsonl"
    path.write_text(json.dumps({"messages": [USER, ASSISTANT]}) + "\n\n"
                    + json.dumps({"messages": [USER, ASSISTANT], "solution": "1"}) + "\n")
    with pytest.raises(DatasetRowError, match=r"user.jsonl:3: solution: unexpected field for sft"):
        validate_file(path, "sft")
