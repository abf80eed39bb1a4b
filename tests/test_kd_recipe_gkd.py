"""The recipe's kd section and the GKD command built from it."""

from pathlib import Path

import pytest

from cookbook.kd.gkd import gkd_flags
from cookbook.recipe import RecipeError, load_recipe


@pytest.mark.parametrize("name", ["tiny", "workshop", "full"])
def test_every_recipe_has_a_kd_section(name):
    r = load_recipe(f"recipes/{name}.yaml")
    assert r.kd.offline is not None and r.kd.gkd is not None
    assert r.kd.top_k >= 10


def test_workshop_kd_teacher_shares_the_students_family():
    r = load_recipe("recipes/workshop.yaml")
    assert r.kd_teacher_model.startswith("Qwen/Qwen2.5") and r.student_model.startswith("Qwen/Qwen2.5")


def test_unknown_and_bad_kd_keys_fail_with_file_and_key(tmp_path):
    base = Path("recipes/tiny.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(base.replace("  top_k: 10", "  top_k: 10\n  topk: 5"))
    with pytest.raises(RecipeError, match=r"bad.yaml: kd.topk: unknown key"):
        load_recipe(bad)
    bad.write_text(base.replace("  loss: forward_kl", "  loss: kl"))
    with pytest.raises(RecipeError, match=r"kd.loss"):
        load_recipe(bad)


def test_gkd_flags(tmp_path):
    r = load_recipe("recipes/tiny.yaml")
    flags = gkd_flags(r.kd.gkd, r.train, teacher="/t", model="/s", dataset="/d.jsonl", output_dir=tmp_path,
                      seed=1, name="x")
    pairs = dict(zip(flags[::2], flags[1::2]))
    assert pairs["--rlhf_type"] == "gkd" and pairs["--teacher_model"] == "/t"
    assert pairs["--teacher_model_type"] == "qwen2" and pairs["--lmbda"] == "0.25" and pairs["--beta"] == "0.5"
    assert "--gkd_logits_topk" not in pairs  # tiny: the full vocabulary
