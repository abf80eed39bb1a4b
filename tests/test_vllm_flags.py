"""Every vllm serve line the recipes build is one vLLM accepts: its own parser where vLLM imports,
else the flag list kept beside the code (cookbook/teacher/vllm_flags.txt), taken from the vLLM
release constraints/gpu.txt pins."""

import re
import shlex
from pathlib import Path

import pytest

from cookbook import plan
from cookbook.recipe import load_recipe
from cookbook.teacher import vllm_flags
from cookbook.teacher.vllm_flags import check_against_list, check_serve, check_with_vllm, load, serve_args

RECIPES = ("workshop", "full", "tutorial")
FLAGS = load()


def pinned(package: str) -> str:
    text = Path("constraints/gpu.txt").read_text()
    return re.search(rf"^{package}==(\S+)", text, re.M).group(1)


def serve_lines(name: str, tmp_path) -> list[tuple[str, list[str]]]:
    """(what, command) of every vllm serve a recipe's plan starts, and its teacher's as a local vLLM."""
    from cookbook.serving import reasoning_parser
    from cookbook.teacher.server import vllm_serve

    recipe = load_recipe(f"recipes/{name}.yaml")
    out = [(f"{name} {step.label}", shlex.split(line)) for step in plan.build(recipe, tmp_path / name)
           for line in step.lines if " serve " in line and "vllm" in line.split(" serve ")[0]]
    # The teacher of these recipes is an API; served locally it is the same model behind vllm serve.
    teacher = vllm_serve(recipe.teacher_model, extra_args=recipe.teacher.vllm.serve_args(),
                         reasoning_parser=reasoning_parser(recipe.teacher_model, "teacher", recipe))
    return out + [(f"{name} teacher (local vLLM)", teacher.command)]


def test_the_list_is_taken_from_the_pinned_vllm():
    assert FLAGS.version == pinned("vllm"), "regenerate cookbook/teacher/vllm_flags.txt: python -m " \
                                             "cookbook.teacher.vllm_flags --write, with the pinned vLLM installed"
    assert {"--tensor-parallel-size", "--data-parallel-size", "--gpu-memory-utilization", "--max-model-len",
            "--reasoning-parser", "--served-model-name", "--host", "--port"} <= FLAGS.options.keys()
    assert {"deepseek_r1", "qwen3"} <= set(FLAGS.reasoning_parsers)  # the recipe's ReasoningParser values


@pytest.mark.parametrize("name", RECIPES)
def test_every_vllm_serve_line_of_a_recipe_is_accepted(name, tmp_path):
    lines = serve_lines(name, tmp_path)
    assert len(lines) >= 2  # the students of 07 and the teacher
    for what, command in lines:
        assert check_against_list(serve_args(command)) == [], (what, shlex.join(command))
        assert check_serve(command) == [], (what, shlex.join(command))  # vLLM's own parser where it imports


def test_a_sized_teacher_is_accepted_too():
    from cookbook.recipe import VLLMSizing
    from cookbook.teacher.server import vllm_serve

    sizing = VLLMSizing(tensor_parallel_size=4, data_parallel_size=2, gpu_memory_utilization=0.85, max_model_len=40960)
    command = vllm_serve("Qwen/Qwen3-32B", reasoning_parser="qwen3", extra_args=sizing.serve_args()).command
    assert check_against_list(serve_args(command)) == []


def test_the_kd_teacher_pass_engine_arguments_are_vllms_options():
    """vllm.LLM's keyword arguments are EngineArgs' fields, each one a vllm serve option by name."""
    from cookbook.kd.teacher_pass import vllm_engine_args

    for name in ("workshop", "full"):
        kd = load_recipe(f"recipes/{name}.yaml").kd
        for key in vllm_engine_args("/models/teacher", kd.top_k, kd.vllm.engine_kwargs()):
            assert "--" + key.replace("_", "-") in FLAGS.options, (name, key)


@pytest.mark.parametrize("args, problem", [
    (["m", "--tensor-parallel-degree", "2"], "--tensor-parallel-degree: not an option of vllm serve"),
    (["m", "--enable-prefix-caching", "true"], "--enable-prefix-caching is a switch"),
    (["m", "--max-model-len"], "--max-model-len takes a value"),
    (["m", "--dtype", "bf16"], "--dtype bf16: not one of"),
    (["m", "--reasoning-parser", "r1"], "--reasoning-parser r1: vllm"),
])
def test_the_list_catches_what_vllm_would_refuse(args, problem):
    problems = check_against_list(args)
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_underscores_and_inline_values_are_read_as_vllm_reads_them():
    assert check_against_list(["m", "--max_model_len", "4096", "--gpu-memory-utilization=0.8", "-tp", "2",
                               "--no-enable-prefix-caching"]) == []


def test_serve_args_finds_serve_after_the_console_script():
    assert serve_args(["/env/bin/vllm", "serve", "m", "--port", "1"]) == ["m", "--port", "1"]
    with pytest.raises(ValueError, match="not a vllm serve"):
        serve_args(["swift", "deploy", "--model", "m"])


def test_vllms_own_parser_agrees_where_it_imports():
    parser = vllm_flags.vllm_parser()
    if parser is None:
        pytest.skip("vLLM does not import here (no GPU build): the kept list decides")
    assert check_with_vllm(["m", "--tensor-parallel-size", "2", "--max-model-len", "4096"], parser) == []
    assert check_with_vllm(["m", "--tensor-parallel-degree", "2"], parser) != []
