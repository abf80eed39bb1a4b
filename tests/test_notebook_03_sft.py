"""03_sft as `make demo` runs it: the distilled student must beat the base student."""

import json

import pytest

from tests.demo_results import code_outputs, stage

pytestmark = pytest.mark.slow


def test_notebook_ran_and_showed_command_progress_and_curves(demo_run):
    run_dir, _ = demo_run
    outs = code_outputs(run_dir, "03_sft.ipynb")
    assert not [o for o in outs if o.output_type == "error"]
    text = json.dumps(outs)
    assert "swift sft --model" in text and "--tuner_type full" in text and "--tuner_type lora" in text
    assert "step/s" in text or "s/step" in text  # the live progress bar
    assert text.count("image/png") >= 3  # loss curves and the accuracy chart
    assert "notebook wall time" in text


def test_sft_on_the_teachers_cot_raises_accuracy_beyond_chance(demo_run):
    run_dir, _ = demo_run
    m = stage(run_dir, "sft")["metrics"]
    # The full-SFT student beats the base beyond chance (two standard errors of the difference on
    # the 200 test problems), not by a fixed number of points: it scored 29.5% to 81.5% in our runs,
    # depending on which chains the teacher sampled in 02; the base student scores 0%.
    after, before = m["gsm8k_quick_accuracy"], m["base_gsm8k_quick_accuracy"]
    se = ((after * (1 - after) + before * (1 - before)) / 200) ** 0.5
    assert after - before > 2 * se, m
    assert m["final_loss_full"] < 0.2
    assert m["wall_seconds"] > 0  # recorded; how long it may take is for bench/, not a timed test


def test_lora_learns_beyond_chance_and_its_share_of_full_sfts_gain_is_recorded(demo_run):
    # Issue 15.2. The tiny LoRA (rank 16, lr 1e-2) scored 8% after 300 steps and 38.5% after 600
    # on one run's chains (full SFT 81%); a LoRA that learned nothing stays at the base's 0% and
    # its loss near 2.3. The bar (60% of full SFT's gain) is recorded, not asserted: it is
    # not met in the tiny world (the notebook says so).
    run_dir, _ = demo_run
    m = stage(run_dir, "sft")["metrics"]
    after, before = m["gsm8k_quick_accuracy_lora"], m["base_gsm8k_quick_accuracy"]
    se = ((after * (1 - after) + before * (1 - before)) / 200) ** 0.5
    assert after - before > 2 * se, m
    assert m["final_loss_lora"] < 1.0, m
    gain = m["gsm8k_quick_accuracy"] - before
    assert m["lora_share_of_full_gain"] == pytest.approx((after - before) / gain, abs=1e-3), m


def test_the_student_on_selected_chains_is_no_worse_than_on_every_verified_chain(demo_run):
    # DistillQwen-ThoughtX's lesson (issue 15.3): selected and rewritten chains (RV in band)
    # against every verified chain, same questions, same settings: not significantly less
    # accurate (McNemar's exact test). The length bar (at most 0.75x the tokens per
    # answer) is not met by this world: the toy teacher samples its normal style most often,
    # so the unselected student answers in it too (the ratio is recorded, not asserted).
    run_dir, _ = demo_run
    m = stage(run_dir, "sft")["metrics"]
    assert 0 < m["selection_tokens_ratio"] and m["gsm8k_quick_accuracy_unselected"] > m["base_gsm8k_quick_accuracy"], m
    assert not (m["selection_broken"] > m["selection_fixed"] and m["selection_p_mcnemar"] < 0.05), m


def test_models_are_merged_loadable_folders(demo_run):
    run_dir, _ = demo_run
    out = stage(run_dir, "sft")["outputs"]
    for name in ("model-full", "model-lora", "model-unselected"):
        folder = run_dir / out[name]["path"]
        assert (folder / "config.json").exists() and (folder / "model.safetensors").exists()
        assert (folder / "tokenizer_config.json").exists()
        assert not (folder / "adapter_config.json").exists()  # the LoRA adapter was merged
        assert not (folder / "optimizer.pt").exists()
    assert (run_dir / out["loss_chart"]["path"]).read_bytes()[:4] == b"\x89PNG"


def test_swanlab_ran_offline_into_the_run_directory(demo_run):
    run_dir, log = demo_run
    assert list((run_dir / "sft" / "full" / "swanlog").iterdir())
    assert log.read_text() == ""
