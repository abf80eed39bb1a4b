import json
import os

import pytest

from cookbook.io import atomic_write_text, read_jsonl
from cookbook.run import MissingInput, Run


def test_record_then_input_round_trip(tmp_path):
    run = Run(tmp_path / "run", recipe="recipes/tiny.yaml", profile="tiny")
    out = atomic_write_text(run.stage_dir("data") / "sft.jsonl", '{"a": 1}\n')
    run.record("data", {"sft": out}, inputs={"n": 3}, metrics={"rows": 1})
    again = Run(tmp_path / "run")  # another notebook, another process
    assert again.input("data", "sft") == out
    assert again.metrics("data") == {"rows": 1}
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["stages"]["data"]["outputs"]["sft"]["path"] == "data/sft.jsonl"
    assert len(manifest["stages"]["data"]["outputs"]["sft"]["sha256"]) == 64


def test_missing_input_says_which_notebook_to_run(tmp_path):
    with pytest.raises(MissingInput, match="02_cot_dataset"):
        Run(tmp_path).input("data", "sft")


def test_changed_output_is_detected(tmp_path):
    run = Run(tmp_path)
    out = atomic_write_text(run.stage_dir("data") / "f.txt", "v1")
    run.record("data", {"f": out}, inputs=1)
    out.write_text("v2")
    with pytest.raises(MissingInput, match="changed"):
        run.input("data", "f")
    assert not run.is_done("data", 1)


def test_is_done_only_for_same_inputs_and_intact_outputs(tmp_path):
    run = Run(tmp_path)
    out = atomic_write_text(run.stage_dir("s") / "f.txt", "x")
    run.record("s", {"f": out}, inputs={"lr": 1e-5})
    assert run.is_done("s", {"lr": 1e-5})
    assert not run.is_done("s", {"lr": 2e-5})
    out.unlink()
    assert not run.is_done("s", {"lr": 1e-5})


def test_record_refuses_an_output_that_was_not_written(tmp_path):
    with pytest.raises(FileNotFoundError, match="was not written"):
        Run(tmp_path).record("s", {"f": tmp_path / "absent"})


def test_atomic_write_leaves_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = atomic_write_text(tmp_path / "f.txt", "old")

    def crash(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)  # the write dies half way, before the rename
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.txt"]  # no temporary file left behind


def test_read_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(ValueError, match=r"d\.jsonl:2: not valid JSON"):
        read_jsonl(path)
