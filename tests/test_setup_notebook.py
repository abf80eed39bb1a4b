"""00_setup as `make demo` runs it: papermill, tiny profile, under the network guard."""

import json

import pytest

from tests.demo_results import code_outputs

pytestmark = pytest.mark.slow


def test_notebook_ran_without_errors_and_showed_the_teacher(demo_run):
    run_dir, _ = demo_run
    outputs = code_outputs(run_dir, "00_setup.ipynb")
    assert not [o for o in outputs if o.output_type == "error"]
    text = json.dumps(outputs)
    assert "&lt;think&gt;" in text or "<think>" in text  # the teacher's reasoning is shown
    assert "image/png" in text  # the accuracy chart is drawn


def test_manifest_records_the_measured_accuracies(demo_run, world):
    run_dir, _ = demo_run
    manifest = json.loads((run_dir / "manifest.json").read_text())
    setup = manifest["stages"]["setup"]
    assert manifest["profile"] == "tiny"
    assert setup["metrics"]["teacher_gsm8k_accuracy"] >= 0.90
    assert setup["metrics"]["student_gsm8k_accuracy"] <= 0.30
    assert setup["metrics"]["world"] == world.dir.name
    chart = run_dir / setup["outputs"]["chart"]["path"]
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    env = json.loads((run_dir / setup["outputs"]["environment"]["path"]).read_text())
    assert env["versions"]["ms-swift"].startswith("4.")


def test_no_notebook_left_loopback(demo_run):
    _, log = demo_run
    assert log.read_text() == ""
