"""`make download`: what it fetches for each profile (no internet here: the hub calls are faked)."""

import pytest

from cookbook.eval import download
from cookbook.eval.protocol import BenchmarkPlan, Protocol, protocol_from_recipe
from cookbook.recipe import load_recipe


def test_tiny_profile_needs_nothing_from_the_internet(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path))
    assert download.main(["--recipe", "recipes/tiny.yaml"]) == 0
    out = capsys.readouterr().out
    assert "nothing to download" in out and "punkt_tab:" in out


def test_workshop_fetches_the_student_and_the_white_box_teacher_but_not_the_api_teacher(monkeypatch):
    from cookbook import hub

    asked = []
    monkeypatch.setattr(hub, "resolve_model", lambda ref: asked.append(ref) or f"/cache/{ref}")
    models = download.download_models(load_recipe("recipes/workshop.yaml"), log=lambda m: None)
    assert asked == ["Qwen/Qwen2.5-1.5B-Instruct", "Qwen/Qwen2.5-7B-Instruct"]  # not DeepSeek-R1 (an API)
    assert models["Qwen/Qwen2.5-7B-Instruct"] == "/cache/Qwen/Qwen2.5-7B-Instruct"


def test_workshop_benchmarks_go_to_evalscopes_cache_from_the_hub(monkeypatch, tmp_path):
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path))
    p = protocol_from_recipe(load_recipe("recipes/workshop.yaml"))
    assert p.dataset_dir == str(tmp_path / "evalscope") and p.dataset_hub in ("modelscope", "huggingface")
    assert all(b.local_path is None for b in p.benchmarks)
    assert all(b.limit == 100 for b in p.benchmarks)
    problems = {row["benchmark"]: row["problems"] for row in p.rows()}
    assert problems["AIME 2024"] == "all" and problems["GSM8K"] == "first 100"  # AIME has 30 a year


def test_benchmarks_load_through_evalscopes_own_loader(world, monkeypatch):
    """The same evalscope calls as a hub download, fed from a local folder (the toy GSM8K)."""
    plan = BenchmarkPlan("gsm8k", None, 1, "{question}", None)
    folder = str(world.benchmark_dir("gsm8k"))
    monkeypatch.setattr(BenchmarkPlan, "dataset_args", lambda self: {"few_shot_num": 0, "local_path": folder})
    proto = Protocol(profile="workshop", benchmarks=(plan,), temperature=0.6, top_p=0.95, max_tokens=64,
                     batch_size=1, serve="checkpoint", dataset_dir=None)
    lines = []
    assert download.download_benchmarks(proto, log=lines.append) == ["gsm8k"]
    assert "200 problems cached" in lines[-1]


@pytest.mark.parametrize("recipe", ["recipes/workshop.yaml", "recipes/full.yaml"])
def test_gpu_profiles_serve_local_models_with_vllm(recipe):
    assert protocol_from_recipe(load_recipe(recipe)).serve == "vllm"


def test_local_benchmark_folders_are_a_recipe_option_in_every_profile(tmp_path, monkeypatch):
    """eval.local: the named benchmarks from folders on disk, the others from the hub."""
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "my-gsm8k"
    folder.mkdir()
    recipe = load_recipe("recipes/workshop.yaml")
    recipe = recipe.model_copy(update={"eval": recipe.eval.model_copy(update={"local": {"gsm8k": str(folder)}})})
    p = protocol_from_recipe(recipe)
    assert p.plan("gsm8k").local_path == str(folder.resolve())
    assert all(b.local_path is None for b in p.benchmarks if b.name != "gsm8k")
    assert p.dataset_dir == str(tmp_path / "cache" / "evalscope")  # the rest still come from the hub
    assert any(str(folder.resolve()) in n for n in p.notes)
