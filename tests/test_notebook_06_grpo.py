"""06_grpo as `make demo` runs it: GRPO raises the mean reward and keeps the accuracy."""

import json

import nbformat
import pytest

pytestmark = pytest.mark.slow

TOLERANCE = 0.03


def stage(run_dir):
    return json.loads((run_dir / "manifest.json").read_text())["stages"]["grpo"]


def test_notebook_ran_and_plotted_the_reward(demo_run):
    run_dir, _ = demo_run
    nb = nbformat.read(run_dir / "notebooks" / "06_grpo.ipynb", as_version=4)
    outs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outs if o.output_type == "error"]
    text = json.dumps(outs)
    assert "swift rlhf --rlhf_type grpo" in text and "cookbook_accuracy" in text
    assert "image/png" in text and "notebook wall time" in text
    chart = run_dir / stage(run_dir)["outputs"]["reward_chart"]["path"]
    assert chart.read_bytes()[:4] == b"\x89PNG"


def test_grpo_raises_the_mean_reward_and_keeps_accuracy(demo_run):
    run_dir, _ = demo_run
    m = stage(run_dir)["metrics"]
    assert m["mean_reward_after"] > m["mean_reward_before"]
    assert m["gsm8k_quick_accuracy"] >= m["gsm8k_quick_accuracy_start"] - TOLERANCE
    assert (run_dir / stage(run_dir)["outputs"]["model-grpo"]["path"] / "model.safetensors").exists()
