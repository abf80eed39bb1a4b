"""The training jobs read their inputs from the manifest and check them before ms-swift starts."""

import json

import pytest

from cookbook.data.formats import DatasetRowError
from cookbook.run import MissingInput
from cookbook.session import start
from cookbook.train import stage


@pytest.fixture
def session(tmp_path):
    return start("recipes/tiny.yaml", str(tmp_path / "run"))


def record_data(session, name, rows):
    path = session.run.stage_dir("data") / f"{name}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    session.run.record("data", {name: path})
    return path


def test_missing_data_stage_says_which_notebook_to_run(session):
    with pytest.raises(MissingInput, match="02_cot_dataset"):
        stage.sft_job(session, "full")


def test_bad_row_names_file_line_and_field(session):
    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    bad = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": ""}]}
    path = record_data(session, "sft", [good, bad])
    with pytest.raises(DatasetRowError) as e:
        stage.sft_job(session, "full")
    assert str(e.value).startswith(f"{path}:2: messages[1].content:")


def test_cogpo_rows_need_their_beta(session, tmp_path):
    row = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
           "rejected_response": "b"}
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps(row) + "\n")
    session.run.record("sft", {"model-full": tmp_path})  # any folder: the check comes first
    with pytest.raises(DatasetRowError, match=r"pairs\.jsonl:1: beta: missing"):
        stage.preference_job(session, "cogpo", path)


def test_recipe_without_a_run_says_so(session, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: t\nprofile: tiny\nhardware: cpu\nruntime: 1 min\n")
    s = start(str(recipe), str(tmp_path / "run2"))
    with pytest.raises(ValueError, match="sft.lora is not set"):
        stage.sft_job(s, "lora")
    with pytest.raises(ValueError, match="grpo.run is not set"):
        stage.grpo_job(s)
