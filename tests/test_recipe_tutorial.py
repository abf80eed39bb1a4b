"""recipes/tutorial.yaml: the ModelScope "distil a reasoning model" tutorial, setting for setting.

(Every file in recipes/ loading is tests/test_recipe.py's test_committed_recipes_load_...)."""

import pytest
import yaml

from cookbook.eval.protocol import protocol_from_recipe
from cookbook.paths import project_root
from cookbook.recipe import QuestionDataset, RecipeError, load_recipe


def test_tutorial_recipe_states_the_tutorials_settings():
    r = load_recipe("recipes/tutorial.yaml")
    assert r.data.questions == QuestionDataset(hub="AI-MO/NuminaMath-CoT", split="train", question="problem",
                                               answer="solution")
    assert r.data.train_size == 4000 and r.data.chains is None
    assert r.teacher_model == "deepseek-ai/DeepSeek-R1" and r.teacher.base_url.startswith("https://api-inference")
    assert r.student_model == "Qwen/Qwen2.5-1.5B-Instruct"
    lora = r.sft.lora
    assert (lora.lora_rank, lora.lora_alpha, lora.learning_rate, lora.num_train_epochs) == (16, 32, 1e-5, 1)
    assert (lora.per_device_train_batch_size, lora.gradient_accumulation_steps, lora.max_length) == (1, 16, 4096)
    assert r.sft.full is None and r.train.torch_dtype == "bfloat16"
    assert r.preference.dpo is None and r.preference.cogpo is None and r.grpo.run is None
    assert r.kd.offline is None and r.kd.gkd is None
    p = protocol_from_recipe(r)
    assert p.names == ["gsm8k"] and p.temperature == 0 and p.max_tokens == 4096 and p.plan("gsm8k").limit == 100
    assert p.generation_config()["do_sample"] is False  # greedy on a local checkpoint too
    assert "+12 points on GSM8K" in (project_root() / "recipes" / "tutorial.yaml").read_text()


def test_the_commented_chains_alternative_is_a_valid_recipe(tmp_path):
    text = (project_root() / "recipes" / "tutorial.yaml").read_text()
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("# chains:"))
    raw = yaml.safe_load(text)
    raw["data"]["chains"] = yaml.safe_load(line.strip().removeprefix("# "))["chains"]
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(raw))
    chains = load_recipe(path).data.chains
    assert (chains.format, chains.hub, chains.subset, chains.split) == ("mathr", "modelscope/MathR", "clean", "train")


@pytest.mark.parametrize("eval_section", [{"temperature": 0},  # the default benchmarks include AIME
                                          {"temperature": 0, "benchmarks": ["gsm8k"], "samples": 4}])
def test_greedy_with_several_samples_per_problem_fails_naming_eval_temperature(tmp_path, eval_section):
    raw = yaml.safe_load((project_root() / "recipes" / "workshop.yaml").read_text())
    raw["eval"] = eval_section
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(RecipeError, match=r"eval\.temperature: 0 \(greedy\) gives every sample the same answer"):
        load_recipe(path)
