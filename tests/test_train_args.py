"""The ms-swift flags built from recipes: what each recipe field becomes on the command line."""

import json
from pathlib import Path

import pytest

from cookbook.recipe import RecipeError, load_recipe
from cookbook.train.args import DEEPSPEED_DIR, DEEPSPEED_PRESETS, dpo_flags, grpo_flags, sft_flags, shell_command

KW = {"model": "/models/student", "dataset": "/data/sft.jsonl", "output_dir": "/run/sft/full", "seed": 7,
      "name": "tiny-full"}


def as_dict(flags):
    """--key v1 [v2 ...] -> {key: v1 or [v1, v2, ...]}"""
    out, key = {}, None
    for f in flags:
        if f.startswith("--"):
            key = f[2:]
            out[key] = None
        elif out[key] is None:
            out[key] = f
        else:
            out[key] = (out[key] if isinstance(out[key], list) else [out[key]]) + [f]
    return out


@pytest.fixture(scope="module")
def tiny():
    return load_recipe("recipes/tiny.yaml")


def test_full_sft_flags_come_from_the_recipe(tiny):
    f = as_dict(sft_flags(tiny.sft.full, tiny.train, **KW))
    assert f["model"] == "/models/student" and f["dataset"] == "/data/sft.jsonl"
    assert f["tuner_type"] == "full" and f["learning_rate"] == "0.002"
    assert f["max_steps"] == str(tiny.sft.full.max_steps) and "num_train_epochs" not in f
    assert f["per_device_train_batch_size"] == "32" and f["max_length"] == "512"
    assert f["model_type"] == "qwen2" and f["template"] == "qwen2_5"  # a local folder needs both
    assert f["check_model"] == "false"  # no hub round trip for a local model
    assert f["add_version"] == "false" and f["output_dir"] == "/run/sft/full"  # a fixed folder: resumable
    assert f["seed"] == "7" and f["data_seed"] == "7"
    assert f["gradient_checkpointing"] == "false" and f["adam_beta2"] == "0.98"  # extra: passed through
    assert "lora_rank" not in f


def test_lora_flags(tiny):
    f = as_dict(sft_flags(tiny.sft.lora, tiny.train, **KW))
    assert f["tuner_type"] == "lora" and f["lora_rank"] == "16" and f["target_modules"] == "all-linear"


def test_workshop_recipe_uses_the_tutorials_lora_settings():
    r = load_recipe("recipes/workshop.yaml")
    f = as_dict(sft_flags(r.sft.lora, r.train, **KW))
    assert (f["lora_rank"], f["learning_rate"], f["max_length"]) == ("16", "1e-05", "4096")
    assert f["torch_dtype"] == "bfloat16" and f["gradient_accumulation_steps"] == "16"
    assert f["callbacks"] == "cookbook_swanlab_offline"  # cloud once SWANLAB_API_KEY is exported


def test_full_recipe_runs_eight_processes_with_zero3(monkeypatch):
    monkeypatch.setenv("SWANLAB_API_KEY", "k")
    r = load_recipe("recipes/full.yaml")
    f = as_dict(sft_flags(r.sft.full, r.train, **KW))
    assert r.train.nproc == 8 and f["deepspeed"] == str(DEEPSPEED_DIR / "zero3.json")  # the cookbook's file, by path
    assert shell_command("sft", sft_flags(r.sft.full, r.train, **KW), r.train.nproc).startswith(
        "NPROC_PER_NODE=8 swift sft ")


@pytest.mark.parametrize("mode", ["disabled", "offline", "local", "cloud"])
def test_swanlab_modes(tiny, mode, monkeypatch):
    monkeypatch.setenv("SWANLAB_API_KEY", "secret-key-value")
    shared = tiny.train.model_copy(update={"swanlab": mode})
    flags = sft_flags(tiny.sft.full, shared, **KW)
    f = as_dict(flags)
    assert "secret-key-value" not in " ".join(flags)  # the key stays in the environment
    if mode == "disabled":
        assert f["report_to"] == "none" and "callbacks" not in f
    elif mode == "offline":  # ms-swift 4.6 has no offline mode: cookbook's callback plugin
        assert f["report_to"] == "none" and f["callbacks"] == "cookbook_swanlab_offline"
        assert f["external_plugins"].endswith("swanlab_offline_plugin.py")
    else:
        assert f["report_to"] == "swanlab" and f["swanlab_mode"] == mode
        assert f["swanlab_project"] == shared.swanlab_project


def test_swanlab_cloud_without_a_key_fails_before_launching(tiny, monkeypatch):
    monkeypatch.delenv("SWANLAB_API_KEY", raising=False)
    shared = tiny.train.model_copy(update={"swanlab": "cloud"})
    with pytest.raises(RuntimeError, match="SWANLAB_API_KEY"):
        sft_flags(tiny.sft.full, shared, **KW)


def test_deepspeed_must_be_a_preset_or_a_file(tiny, tmp_path):
    with pytest.raises(ValueError, match="zero4"):
        sft_flags(tiny.sft.full, tiny.train.model_copy(update={"deepspeed": "zero4"}), **KW)
    config = tmp_path / "ds.json"
    config.write_text("{}")
    f = as_dict(sft_flags(tiny.sft.full, tiny.train.model_copy(update={"deepspeed": str(config)}), **KW))
    assert f["deepspeed"] == str(config)


@pytest.mark.parametrize("preset", DEEPSPEED_PRESETS)
def test_a_deepspeed_preset_reaches_ms_swift_as_the_cookbooks_file(tiny, preset):
    f = as_dict(sft_flags(tiny.sft.full, tiny.train.model_copy(update={"deepspeed": preset}), **KW))
    path = Path(f["deepspeed"])
    assert path.is_absolute() and path == DEEPSPEED_DIR / f"{preset}.json" and path.is_file()


def test_a_runs_own_deepspeed_overrides_the_shared_one():
    r = load_recipe("recipes/workshop.yaml")  # sft.full: zero3_offload, train: none
    assert as_dict(sft_flags(r.sft.full, r.train, **KW))["deepspeed"] == str(DEEPSPEED_DIR / "zero3_offload.json")
    assert "deepspeed" not in as_dict(sft_flags(r.sft.lora, r.train, **KW))


@pytest.mark.parametrize("preset", DEEPSPEED_PRESETS)
def test_each_deepspeed_file_says_what_it_is_for_and_its_memory(preset):
    config = json.loads((DEEPSPEED_DIR / f"{preset}.json").read_text())
    comment = " ".join(config["_comment"])
    assert "For:" in comment and " GB" in comment  # its use, and a published memory figure
    assert any(source in comment for source in ("ZeRO", "ms-swift", "DeepSpeed"))  # ... with its source
    stage = config["zero_optimization"]["stage"]
    assert preset.startswith(f"zero{stage}")
    offloaded = {k: v["device"] for k, v in config["zero_optimization"].items() if k.startswith("offload_")}
    assert all(d == ("cpu" if preset.endswith("_offload") else "none") for d in offloaded.values())
    if preset == "zero3_offload":
        assert offloaded == {"offload_optimizer": "cpu", "offload_param": "cpu"}


@pytest.mark.parametrize("preset", DEEPSPEED_PRESETS)
def test_each_deepspeed_file_has_ms_swifts_keys_and_auto_values(preset):
    """The keys ms-swift 4.6 ships in swift/config/<preset>.json, whose "auto" values the HF Trainer
    fills from the run's own flags (batch size, accumulation, clipping, bf16): a file that set
    them by hand would disagree with the recipe. A new ms-swift that changes its files shows here."""
    swift = pytest.importorskip("swift")
    shipped = json.loads((Path(swift.__file__).parent / "config" / f"{preset}.json").read_text())
    ours = json.loads((DEEPSPEED_DIR / f"{preset}.json").read_text())
    assert {k: v for k, v in ours.items() if k != "_comment"} == shipped
    for key in ("train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps",
                "gradient_clipping"):
        assert ours[key] == "auto"
    assert ours["bf16"]["enabled"] == "auto" and ours["fp16"]["enabled"] == "auto"


def test_the_deepspeed_files_are_package_data():
    import tomllib

    data = tomllib.loads(Path("pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "deepspeed/*.json" in data["cookbook.train"]


def test_extra_cannot_override_a_recipe_field(tiny):
    run = tiny.sft.full.model_copy(update={"extra": {"learning_rate": 1}})
    with pytest.raises(ValueError, match="learning_rate"):
        sft_flags(run, tiny.train, **KW)


def test_dpo_and_cogpo_flags(tiny):
    dpo = as_dict(dpo_flags(tiny.preference.dpo, tiny.train, **KW))
    assert dpo["rlhf_type"] == "dpo" and dpo["beta"] == str(tiny.preference.dpo.beta)
    assert "remove_unused_columns" not in dpo and "cogpo_plugin" not in str(dpo.get("external_plugins"))
    cog = as_dict(dpo_flags(tiny.preference.cogpo, tiny.train, cogpo=True, **KW))
    assert cog["remove_unused_columns"] == "false"  # else ms-swift drops each row's beta
    assert any(p.endswith("cogpo_plugin.py") for p in cog["external_plugins"])


def test_grpo_flags_register_cookbook_rewards(tiny):
    f = as_dict(grpo_flags(tiny.grpo.run, tiny.train, **KW))
    assert f["rlhf_type"] == "grpo"
    assert f["reward_funcs"] == ["cookbook_accuracy", "cookbook_format", "cookbook_overlong"]
    assert f["soft_max_length"] == str(tiny.grpo.run.soft_max_length)
    assert f["num_generations"] == str(tiny.grpo.run.num_generations)
    assert any(p.endswith("rewards_plugin.py") for p in f["external_plugins"])
    no_overlong = tiny.grpo.run.model_copy(update={"reward_funcs": ["accuracy"]})
    assert "soft_max_length" not in as_dict(grpo_flags(no_overlong, tiny.train, **KW))
    bad = tiny.grpo.run.model_copy(update={"reward_weights": [1.0]})
    with pytest.raises(ValueError, match="reward_weights"):
        grpo_flags(bad, tiny.train, **KW)


def test_recipe_training_section_errors_name_the_key(tmp_path):
    base = "name: t\nprofile: tiny\nhardware: cpu\nruntime: 1 min\n"
    path = tmp_path / "r.yaml"
    path.write_text(base + "sft:\n  full:\n    learning_rate: 1e-5\n    max_step: 3\n")
    with pytest.raises(RecipeError, match=r"sft\.full\.max_step: unknown key"):
        load_recipe(path)
    path.write_text(base + "sft:\n  full:\n    learning_rate: 1e-5\n")
    with pytest.raises(RecipeError, match="epochs or max_steps"):
        load_recipe(path)
    path.write_text(base + "sft:\n  full:\n    learning_rate: 1e-5\n    num_train_epochs: 1\n")
    assert load_recipe(path).sft.full.learning_rate == 1e-5  # YAML reads 1e-5 as text: accepted


def test_shell_command_quotes():
    assert shell_command("rlhf", ["--rlhf_type", "dpo", "--system", "a b"]) == \
        "swift rlhf --rlhf_type dpo --system 'a b'"
