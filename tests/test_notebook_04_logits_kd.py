"""04_logits_kd as `make demo` runs it: both KD models recorded, KL down, accuracy kept."""

import json

import pytest

from tests.demo_results import code_outputs, significantly_lower, stage

pytestmark = pytest.mark.slow


def test_notebook_ran_and_showed_the_store_the_command_and_the_charts(demo_run):
    run_dir, _ = demo_run
    outs = code_outputs(run_dir, "04_logits_kd.ipynb")
    assert not [o for o in outs if o.output_type == "error"]
    text = json.dumps(outs)
    assert "swift rlhf --rlhf_type gkd" in text and "--teacher_model" in text
    assert "bytes per token at k=10" in text
    assert text.count("image/png") >= 3  # top-k mass, KD loss curve, accuracy chart
    assert "notebook wall time" in text


def test_kd_lowers_the_kl_to_the_teacher_and_keeps_the_accuracy(demo_run):
    run_dir, _ = demo_run
    m = stage(run_dir, "kd")["metrics"]
    # Measured on the teacher's chains for unseen test problems: 10-32% lower in four runs
    # (0.031 -> 0.028, 0.055 -> 0.047, 0.016 -> 0.013, 0.040 -> 0.027), 17% from a 39.5% SFT student
    # (0.047 -> 0.039) and 1.6% from a 61% one (0.0248 -> 0.0244: the better the SFT student, the
    # less KL is left to close). The KL is computed, not sampled: a run that trained nothing stays
    # exactly equal, and one that drifted from the teacher goes up; both fail this.
    assert m["kl_after_kd_offline"] < 0.99 * m["kl_before"], m
    assert m["kl_after_gkd"] < 1.5 * m["kl_before"]  # 30 GKD steps: about where SFT left it (+5% in our runs)
    assert m["gsm8k_quick_accuracy"] == max(m["gsm8k_quick_accuracy_kd_offline"], m["gsm8k_quick_accuracy_gkd"])
    # Offline KD raised the accuracy in three demo runs (32.5 -> 40%, 76 -> 81%, 40.5 -> 48%: 26
    # problems fixed, 11 broken) and lowered it in a fourth (81.5 -> 78%), never beyond chance.
    assert not significantly_lower(m, "kd_offline"), m
    # Online GKD costs a few points in the tiny profile, at any learning rate we tried (40.5% ->
    # 38% at 2e-5 and at 1e-5, 6 problems broken and 0-1 fixed; 2e-5 without on-policy samples:
    # 38%); the notebook shows it. This bound catches a broken run, not that cost.
    assert m["gsm8k_quick_accuracy_gkd"] >= m["gsm8k_quick_accuracy_sft"] - 0.10, m
    assert m["teacher_top10_mass"] > 0.95
    assert m["store_bytes_per_token"] < 43
    assert m["wall_seconds"] > 0  # recorded; how long it may take is for bench/, not a timed test


def test_models_are_loadable_folders(demo_run):
    run_dir, _ = demo_run
    out = stage(run_dir, "kd")["outputs"]
    for name in ("model-kd-offline", "model-gkd"):
        folder = run_dir / out[name]["path"]
        assert (folder / "config.json").exists() and (folder / "model.safetensors").exists()
        assert (folder / "tokenizer_config.json").exists()
        assert not (folder / "optimizer.pt").exists()
