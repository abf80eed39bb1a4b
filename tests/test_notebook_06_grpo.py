"""06_grpo as `make demo` runs it: GRPO runs through ms-swift with cookbook's rewards and keeps the student."""

import json

import nbformat
import pytest

pytestmark = pytest.mark.slow

# The student has all but memorised its 800 training questions (SFT's final loss < 0.01), and every
# stage after SFT trains on them again: measured, each `swift rlhf` stage costs 1-3 points even at a
# learning rate of 1e-5 (plain SFT continued for 40 steps: 2 points). 12 of the 200 problems.
TOLERANCE = 0.06
REWARD_TOLERANCE = 0.05  # 400 sampled answers: one standard error is about 0.02


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


def test_grpo_keeps_the_mean_reward_and_the_accuracy(demo_run):
    """The tiny recipe's GRPO is a short, gentle run (see the notebook: larger steps measurably
    hurt a 0.4M-parameter model): the reward and the accuracy stay within noise of SFT."""
    run_dir, _ = demo_run
    m = stage(run_dir)["metrics"]
    assert m["mean_reward_after"] >= m["mean_reward_before"] - REWARD_TOLERANCE
    assert m["gsm8k_quick_accuracy"] >= m["gsm8k_quick_accuracy_start"] - TOLERANCE
    assert m["first_step_reward"] is not None and m["last_step_reward"] is not None  # the reward was logged
    assert (run_dir / stage(run_dir)["outputs"]["model-grpo"]["path"] / "model.safetensors").exists()
