"""The plan view: every command a recipe will run, as it will run it, and the memory each stage takes."""

import json
import shlex
from pathlib import Path

import pytest

from cookbook import plan
from cookbook.recipe import load_recipe
from cookbook.run import OUTPUTS, PRODUCED_BY
from cookbook.train.args import DEEPSPEED_DIR

RECIPES = ["tiny", "workshop", "full", "tutorial"]


def build(name: str, tmp_path: Path):
    recipe = load_recipe(name if name.endswith(".yaml") else f"recipes/{name}.yaml")
    return recipe, plan.build(recipe, tmp_path / "run")


def step(steps, label: str) -> plan.Step:
    return next(s for s in steps if s.label == label)


def flags_of(line: str) -> dict[str, str]:
    """``--flag value`` pairs of a command line (a flag's first value)."""
    words = shlex.split(line)
    return {w[2:]: words[i + 1] for i, w in enumerate(words[:-1]) if w.startswith("--")}


@pytest.mark.parametrize("name", RECIPES)
def test_the_plan_runs_for_every_recipe_and_writes_nothing(name, tmp_path, capsys):
    recipe, steps = build(name, tmp_path)
    text = plan.render(steps, recipe, tmp_path / "run")
    for stage in ("sft", "kd", "preference", "grpo", "eval"):
        assert f"== {PRODUCED_BY[stage]}" in text
    assert "memory, GiB" in text
    assert not (tmp_path / "run").exists()  # no run directory, no manifest, no stage folder
    code = plan.main(["--recipe", f"recipes/{name}.yaml", "--run-dir", str(tmp_path / "run")])
    printed = capsys.readouterr().out
    assert code == (1 if "\nFLAG " in printed else 0)


def test_workshop_sft_line_holds_the_modelscope_tutorials_settings(tmp_path):
    """Qwen2.5-1.5B-Instruct, LoRA rank 16 / alpha 32, lr 1e-5, 1 epoch, batch 1 x 16, length 4096."""
    _, steps = build("workshop", tmp_path)
    line = step(steps, "sft-lora").lines[0]
    assert line.startswith("swift sft ")
    assert flags_of(line).items() >= {
        "model": "Qwen/Qwen2.5-1.5B-Instruct", "tuner_type": "lora", "learning_rate": "1e-05",
        "num_train_epochs": "1.0", "per_device_train_batch_size": "1", "gradient_accumulation_steps": "16",
        "max_length": "4096", "lora_rank": "16", "lora_alpha": "32", "torch_dtype": "bfloat16",
        "dataset": str(tmp_path / "run" / "data" / "sft.jsonl"),
        "output_dir": str(tmp_path / "run" / "sft" / "lora")}.items()


def test_tiny_plan_trains_a_second_full_sft_student_on_the_unselected_chains(tmp_path):
    """sft.compare_selection: sft.full's settings, 02's sft_unselected file, its own output folder."""
    _, steps = build("tiny", tmp_path)
    full, unselected = (flags_of(step(steps, label).lines[0]) for label in ("sft-full", "sft-unselected"))
    assert unselected["dataset"] == str(tmp_path / "run" / "data" / "sft_unselected.jsonl")
    assert unselected["output_dir"] == str(tmp_path / "run" / "sft" / "unselected")
    same = ("tuner_type", "learning_rate", "max_steps", "per_device_train_batch_size", "seed")
    assert {k: unselected[k] for k in same} == {k: full[k] for k in same}
    _, workshop = build("workshop", tmp_path)
    assert not [s for s in workshop if s.label == "sft-unselected"]  # off unless the recipe asks


def test_full_plan_holds_thoughty_settings_under_torchrun_with_8_processes(tmp_path):
    """DistillQwen-ThoughtY: lr 5e-5, 3 epochs, length 8192; 8 GPUs under DeepSpeed ZeRO-3."""
    _, steps = build("full", tmp_path)
    shell, runs = step(steps, "sft-full").lines
    assert shell.startswith("NPROC_PER_NODE=8 swift sft ")
    assert flags_of(shell).items() >= {"model": "Qwen/Qwen3-8B", "tuner_type": "full", "learning_rate": "5e-05",
                                       "num_train_epochs": "3.0", "max_length": "8192",
                                       "deepspeed": str(DEEPSPEED_DIR / "zero3.json")}.items()
    assert "-m torch.distributed.run --nproc_per_node 8 " in runs and runs.endswith(shell.split("swift sft ")[1])


def test_across_two_machines_each_node_gets_its_line(tmp_path, monkeypatch):
    """The scheduler's NNODES / MASTER_ADDR / MASTER_PORT: one line per node, for ms-swift and the KD trainer."""
    for key, value in {"NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "10.1.2.3", "MASTER_PORT": "29500"}.items():
        monkeypatch.setenv(key, value)
    _, steps = build("full", tmp_path)
    lines = step(steps, "sft-full").lines
    for rank in (0, 1):
        assert f"node {rank}: NNODES=2 NODE_RANK={rank} MASTER_ADDR=10.1.2.3 MASTER_PORT=29500 NPROC_PER_NODE=8 " \
               "swift sft" in "\n".join(lines)
        torchrun = f"--nproc_per_node 8 --nnodes 2 --node_rank {rank} --master_addr 10.1.2.3 --master_port 29500"
        assert any(line.startswith(f"runs: node {rank}: ") and torchrun in line for line in lines)
        assert any(line.startswith(f"node {rank}: ") and torchrun in line for line in step(steps, "kd-offline").lines)


def test_a_stage_over_the_stated_memory_is_flagged_and_the_exit_status_says_so(tmp_path, capsys):
    text = Path("recipes/workshop.yaml").read_text()
    small = tmp_path / "small.yaml"
    small.write_text(text.replace("gpus: {count: 1, memory_gb: 24}", "gpus: {count: 1, memory_gb: 8}"))
    assert plan.main(["--recipe", str(small), "--run-dir", str(tmp_path / "run")]) == 1
    out = capsys.readouterr().out
    assert "FLAG 03_sft sft-lora: 10.9 GiB estimated per GPU > 8 GiB (gpus.memory_gb)" in out
    roomy = tmp_path / "roomy.yaml"
    roomy.write_text(text.replace("gpus: {count: 1, memory_gb: 24}", "gpus: {count: 1, memory_gb: 141}"))
    assert plan.main(["--recipe", str(roomy), "--run-dir", str(tmp_path / "run")]) == 0
    assert "FLAG" not in capsys.readouterr().out


def test_more_processes_than_stated_gpus_is_flagged(tmp_path):
    text = Path("recipes/full.yaml").read_text().replace("gpus: {count: 8,", "gpus: {count: 4,")
    (tmp_path / "four.yaml").write_text(text)
    recipe, steps = build(str(tmp_path / "four.yaml"), tmp_path)
    assert "FLAG 03_sft sft-full: uses 8 GPUs per node, the recipe states 4 (gpus.count)" in plan.flags(steps, recipe)


def test_a_cpu_recipe_is_estimated_and_never_flagged(tmp_path):
    recipe, steps = build("tiny", tmp_path)
    assert recipe.gpus is None and plan.flags(steps, recipe) == []


def test_later_stages_read_the_paths_earlier_ones_write(tmp_path):
    _, steps = build("workshop", tmp_path)
    run = tmp_path / "run"
    assert flags_of(step(steps, "dpo").lines[0])["model"] == str(run / "sft" / "model-lora")  # preference.start_from
    assert flags_of(step(steps, "dpo").lines[0])["dataset"] == str(run / "preference" / "dpo.train.jsonl")
    assert flags_of(step(steps, "grpo").lines[0])["dataset"] == str(run / "grpo" / "frontier.train.jsonl")
    export = step(steps, "export model-lora").lines[0]
    assert export.startswith("swift export ") and flags_of(export)["merge_lora"] == "true"
    served = step(steps, "eval sft-lora").lines
    assert served[0].startswith("vllm serve ") and str(run / "sft" / "model-lora") in served[0]
    task = json.loads(served[1].removeprefix("evalscope TaskConfig "))
    assert task["api_url"].startswith("http://127.0.0.1:") and task["model"] == "served"


def test_planned_outputs_are_the_names_the_notebooks_record():
    """cookbook.run.OUTPUTS is what notebook 02-06 write: each name in the notebook that records it."""
    for stage, outputs in OUTPUTS.items():
        source = "".join("".join(c["source"]) for c in json.loads(
            Path(f"notebooks/{PRODUCED_BY[stage]}.ipynb").read_text())["cells"] if c["cell_type"] == "code")
        for name, path in outputs.items():
            assert f'"{name}"' in source, (stage, name)
            assert f'"{Path(path).name}"' in source, (stage, path)
