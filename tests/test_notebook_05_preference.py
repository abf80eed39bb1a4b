"""05_preference as `make demo` runs it: DPO and CogPO keep the accuracy and raise the margin."""

import json

import pytest

from tests.demo_results import AFTER_SFT_TOLERANCE, code_outputs, stage

pytestmark = pytest.mark.slow

def test_notebook_ran_and_showed_both_commands(demo_run):
    run_dir, _ = demo_run
    outs = code_outputs(run_dir, "05_preference.ipynb")
    assert not [o for o in outs if o.output_type == "error"]
    text = json.dumps(outs)
    assert "swift rlhf --rlhf_type dpo" in text and "cogpo_plugin.py" in text
    assert "notebook wall time" in text


@pytest.mark.parametrize("kind", ["dpo", "cogpo"])
def test_preference_training_keeps_accuracy_and_raises_the_margin(demo_run, kind):
    run_dir, _ = demo_run
    m = stage(run_dir, "preference")["metrics"]
    assert m[f"gsm8k_quick_accuracy_{kind}"] >= m["gsm8k_quick_accuracy_start"] - AFTER_SFT_TOLERANCE
    assert m[f"preference_margin_{kind}"] > m["preference_margin_before"] + 5.0  # nats, on held-out pairs
    assert m["heldout_pairs"] >= 10


def test_both_models_recorded(demo_run):
    run_dir, _ = demo_run
    out = json.loads((run_dir / "manifest.json").read_text())["stages"]["preference"]["outputs"]
    for name in ("model-dpo", "model-cogpo"):
        assert (run_dir / out[name]["path"] / "model.safetensors").exists()
