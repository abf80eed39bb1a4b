"""Serving by model: the reasoning parser, ms-swift's names and the thinking mode follow the model."""

from __future__ import annotations

import pytest
import torch

from cookbook.eval.candidates import Candidate, with_serving
from cookbook.eval.protocol import BenchmarkPlan, Protocol
from cookbook.eval.runner import Job, identity, server_for, task_config
from cookbook.recipe import Recipe, load_recipe
from cookbook.serving import chat_template_kwargs, reasoning_parser, swift_thinking_args
from cookbook.train.args import grpo_flags, sft_flags
from cookbook.train.rewards import format_rewards, is_well_formed, make_orms


def recipe(student: str, template: str | None, model_type: str | None = None, thinking: bool | None = None,
           teacher: dict | None = None, **eval_) -> Recipe:
    return Recipe.model_validate({
        "name": "t", "profile": "workshop", "hardware": "-", "runtime": "-",
        "student": {"model": student}, "teacher": teacher or {},
        "train": {"model_type": model_type, "template": template, "thinking": thinking}, "eval": eval_,
    })


WORKSHOP = recipe("Qwen/Qwen2.5-1.5B-Instruct", "qwen2_5", "qwen2")
FULL = recipe("Qwen/Qwen3-8B", "qwen3", "qwen3", thinking=True)
DISTILLED = "/runs/x/sft/model-full"  # a distilled student's folder names no family


# ---- the parser table ------------------------------------------------------------------------

def test_a_plain_instruct_base_student_gets_no_parser():
    # Qwen2.5-Instruct writes no </think>: the R1 parser would move its whole answer into reasoning.
    assert reasoning_parser("/cache/Qwen/Qwen2___5-1___5B-Instruct", "base", WORKSHOP) is None


def test_a_student_distilled_on_think_chains_gets_the_r1_parser():
    assert reasoning_parser(DISTILLED, "distilled", WORKSHOP) == "deepseek_r1"


def test_qwen3_gets_the_qwen3_parser_by_template_or_by_name():
    assert reasoning_parser("/cache/Qwen/Qwen3-8B", "base", FULL) == "qwen3"
    assert reasoning_parser(DISTILLED, "distilled", FULL) == "qwen3"
    by_name = recipe("Qwen/Qwen3-1.7B", None)
    assert reasoning_parser(DISTILLED, "distilled", by_name) == "qwen3"
    instruct = recipe("Qwen/Qwen3-4B-Instruct-2507", "qwen3_nothinking")
    assert reasoning_parser("/m", "base", instruct) is None  # writes no <think>
    assert reasoning_parser(DISTILLED, "distilled", instruct) == "qwen3"


def test_r1_models_by_name_get_the_r1_parser_even_as_the_base():
    r1 = recipe("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", "deepseek_r1")
    assert reasoning_parser("/m", "base", r1) == "deepseek_r1"
    teacher = recipe("Qwen/Qwen2.5-1.5B-Instruct", "qwen2_5",
                     teacher={"model": "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"})
    assert reasoning_parser("/cache/DeepSeek-R1-Distill-Qwen-7B", "teacher", teacher) == "deepseek_r1"


def test_the_recipes_override_wins():
    assert reasoning_parser("/m", "base", recipe("Qwen/Qwen2.5-1.5B-Instruct", "qwen2_5",
                                                 reasoning_parser="deepseek_r1")) == "deepseek_r1"
    assert reasoning_parser(DISTILLED, "distilled", recipe("Qwen/Qwen3-8B", "qwen3",
                                                           reasoning_parser="none")) is None
    local = recipe("Qwen/Qwen2.5-1.5B-Instruct", "qwen2_5", teacher={"model": "x/y", "reasoning_parser": "qwen3"})
    assert reasoning_parser("/t", "teacher", local) == "qwen3"
    assert reasoning_parser("/m", "base", local) is None  # the teacher's override is the teacher's only


def test_an_unknown_parser_or_role_is_refused():
    with pytest.raises(ValueError):
        recipe("Qwen/Qwen3-8B", "qwen3", reasoning_parser="qwen2")
    with pytest.raises(ValueError, match="unknown role"):
        reasoning_parser("/m", "student", FULL)


# ---- the servers' command lines --------------------------------------------------------------

def protocol(serve: str) -> Protocol:
    plan = BenchmarkPlan("gsm8k", limit=4, samples=1, prompt="{question}", local_path=None)
    return Protocol(profile="workshop", benchmarks=(plan,), temperature=0.6, top_p=0.95, max_tokens=64,
                    batch_size=4, serve=serve)


def served(cand: Candidate, recipe_: Recipe, serve: str, tmp_path) -> list[str]:
    return server_for(with_serving(cand, recipe_), protocol(serve), tmp_path).command


def flag(cmd: list[str], name: str) -> str | None:
    return cmd[cmd.index(name) + 1] if name in cmd else None


def test_vllm_serves_each_model_with_its_parser(tmp_path):
    base = Candidate("student-base", "base", "/cache/Qwen2.5-1.5B-Instruct")
    sft = Candidate("sft-full", "distilled", DISTILLED, stage="sft")
    assert "--reasoning-parser" not in served(base, WORKSHOP, "vllm", tmp_path)
    assert flag(served(sft, WORKSHOP, "vllm", tmp_path), "--reasoning-parser") == "deepseek_r1"
    assert flag(served(base, FULL, "vllm", tmp_path), "--reasoning-parser") == "qwen3"


def test_swift_deploy_gets_the_recipes_model_type_template_and_thinking(tmp_path):
    cmd = served(Candidate("sft-full", "distilled", DISTILLED), FULL, "swift", tmp_path)
    assert flag(cmd, "--model_type") == "qwen3" and flag(cmd, "--template") == "qwen3"
    assert flag(cmd, "--enable_thinking") == "true"
    plain = served(Candidate("sft-full", "distilled", DISTILLED), WORKSHOP, "swift", tmp_path)
    assert flag(plain, "--model_type") == "qwen2" and flag(plain, "--template") == "qwen2_5"
    assert "--enable_thinking" not in plain  # thinking None: the template's default
    bare = served(Candidate("sft-full", "distilled", DISTILLED), recipe("org/m", None), "swift", tmp_path)
    assert flag(bare, "--model_type") == "qwen2"  # no names in the recipe: swift_deploy's own defaults


def test_tiny_recipe_serves_and_evaluates_as_before():
    tiny = load_recipe("recipes/tiny.yaml")
    assert tiny.train.thinking is None
    cand = with_serving(Candidate("student-base", "base", "/w/student-base"), tiny)
    job = Job(cand, "gsm8k", __import__("pathlib").Path("/tmp/none"))
    cfg = task_config(job, protocol("checkpoint"))
    assert "extra_body" not in cfg["generation_config"] and set(cfg["model_args"]) == {"precision"}
    assert "serving" not in identity(cand, protocol("checkpoint"), "gsm8k")  # cached answers still count
    assert swift_thinking_args(None) == [] and chat_template_kwargs(None) == {}


# ---- thinking mode: ms-swift's flags, evalscope's config --------------------------------------

def run_flags(thinking):
    from cookbook.recipe import GRPORun, TrainRun, TrainShared

    shared = TrainShared(model_type="qwen3", template="qwen3", thinking=thinking)
    kw = dict(model="/m", dataset="/d.jsonl", output_dir="/o", seed=1, name="n")
    sft = sft_flags(TrainRun(learning_rate=1e-5, max_steps=1), shared, **kw)
    grpo = grpo_flags(GRPORun(learning_rate=1e-6, max_steps=1), shared, **kw)
    return sft, grpo


def test_thinking_maps_to_ms_swifts_enable_thinking_and_the_format_reward():
    sft, grpo = run_flags(True)
    assert flag(sft, "--enable_thinking") == "true" and flag(grpo, "--enable_thinking") == "true"
    funcs = grpo[grpo.index("--reward_funcs") + 1:]
    assert funcs[:2] == ["cookbook_accuracy", "cookbook_format_thinking"]
    sft, grpo = run_flags(False)
    assert flag(sft, "--enable_thinking") == "false" and "cookbook_format" in grpo
    sft, grpo = run_flags(None)
    assert "--enable_thinking" not in sft and "--enable_thinking" not in grpo and "cookbook_format" in grpo


def test_thinking_reaches_evalscope_as_chat_template_kwargs(tmp_path):
    cand = with_serving(Candidate("sft-full", "distilled", DISTILLED), FULL)
    api = task_config(Job(cand, "gsm8k", tmp_path), protocol("vllm"), api_url="http://127.0.0.1:1/v1")
    assert api["generation_config"]["extra_body"] == {"chat_template_kwargs": {"enable_thinking": True}}
    assert api["generation_config"]["temperature"] == 0.6  # the protocol's settings stay
    ckpt = task_config(Job(cand, "gsm8k", tmp_path), protocol("checkpoint"))
    assert ckpt["model_args"]["enable_thinking"] is True  # evalscope's checkpoint model: model_args
    assert identity(cand, protocol("vllm"), "gsm8k")["serving"] == {"thinking": True, "reasoning_parser": "qwen3"}


def test_the_full_recipe_thinks_and_the_workshop_recipe_does_not_say():
    assert load_recipe("recipes/full.yaml").train.thinking is True
    assert load_recipe("recipes/workshop.yaml").train.thinking is None


# ---- in-process generation: the chat template's enable_thinking ---------------------------------

# Qwen3's way (no kwarg: nothing after the assistant line; false: an empty think block), plus an
# opened <think> for true, as Qwen3-Thinking and the R1 distills' templates put it in the prompt.
THINKING_TEMPLATE = (
    "{%- for m in messages %}{{- '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- elif enable_thinking is defined %}{{- '<think>\\n' }}{%- endif %}{%- endif %}"
)


@pytest.fixture(scope="module")
def tokenizer():
    from cookbook.toy.tokenizer import train_tokenizer

    tok = train_tokenizer(["what is 2 + 3 ? think answer"] * 20, vocab_size=300)
    tok.chat_template = THINKING_TEMPLATE
    return tok


class EchoModel:
    """Returns the prompt and records it: what the chat template rendered is what it saw."""

    device = torch.device("cpu")

    def __init__(self):
        self.prompts = []

    def generate(self, input_ids, attention_mask=None, **kw):
        self.prompts += input_ids.tolist()
        return input_ids


CONVERSATION = [[{"role": "user", "content": "what is 2 + 3 ?"}]]


def rendered(tokenizer, model) -> str:
    return tokenizer.decode(model.prompts[0])


@pytest.mark.parametrize("kwargs, tail", [(None, "assistant\n"), ({"enable_thinking": True}, "assistant\n<think>\n"),
                                          ({"enable_thinking": False}, "<think>\n\n</think>\n\n")])
def test_quick_generate_and_sample_answers_pass_the_chat_template_kwargs(tokenizer, kwargs, tail):
    from cookbook.eval.quick import generate
    from cookbook.train.measure import sample_answers

    model = EchoModel()
    generate(model, tokenizer, CONVERSATION, max_new_tokens=4, chat_template_kwargs=kwargs)
    assert rendered(tokenizer, model).endswith(tail)
    model = EchoModel()
    sample_answers(model, tokenizer, CONVERSATION, samples=1, temperature=1.0, max_new_tokens=4, seed=0,
                   chat_template_kwargs=kwargs)
    assert rendered(tokenizer, model).endswith(tail)


def test_no_kwargs_renders_exactly_what_the_template_renders_alone(tokenizer):
    from cookbook.eval.quick import generate

    model = EchoModel()
    generate(model, tokenizer, CONVERSATION, max_new_tokens=4)
    plain = tokenizer.apply_chat_template(CONVERSATION[0], add_generation_prompt=True, tokenize=False)
    assert model.prompts[0] == tokenizer(plain, add_special_tokens=False)["input_ids"]
    assert chat_template_kwargs(True) == {"enable_thinking": True}


# ---- the format reward with thinking on -------------------------------------------------------

OPENED = "<think>\n3 + 2 = 5\n</think>\n\nThe answer is \\boxed{5}."
INSIDE = "3 + 2 = 5\n</think>\n\nThe answer is \\boxed{5}."  # the template opened <think> in the prompt


def test_with_thinking_on_a_completion_may_start_inside_the_reasoning():
    assert is_well_formed(OPENED) and is_well_formed(OPENED, thinking=True)
    assert not is_well_formed(INSIDE)  # thinking off: the completion must open <think> itself
    assert is_well_formed(INSIDE, thinking=True)
    assert format_rewards([INSIDE, OPENED], thinking=True) == [1.0, 1.0]


def test_thinking_on_still_asks_for_reasoning_one_close_tag_and_a_boxed_answer():
    for bad in ["\n</think>\n\nThe answer is \\boxed{5}.",  # empty reasoning
                "3 + 2 = 5\n</think>\n\nThe answer is 5.",  # no \boxed{}
                "3 + 2 = 5\n</think>\n</think>\\boxed{5}",  # two closes
                "3 + 2 <think> = 5\n</think>\\boxed{5}",  # an open tag in the middle
                "3 + 2 = 5, so \\boxed{5}"]:  # no </think>: cut off while thinking
        assert not is_well_formed(bad, thinking=True), bad


def test_the_plugin_registers_the_thinking_format_reward():
    pytest.importorskip("swift")
    orms = make_orms()
    assert orms["cookbook_format_thinking"]()([INSIDE]) == [1.0]
    assert orms["cookbook_format"]()([INSIDE]) == [0.0]


def test_vllm_is_sized_by_the_recipe(tmp_path):
    """eval.vllm / teacher.vllm / kd.vllm: tensor and data parallelism, memory share, max_model_len."""
    from cookbook.recipe import VLLMSizing

    sizing = VLLMSizing(tensor_parallel_size=2, data_parallel_size=4, gpu_memory_utilization=0.8, max_model_len=8192)
    assert sizing.serve_args() == ["--tensor-parallel-size", "2", "--data-parallel-size", "4",
                                   "--gpu-memory-utilization", "0.8", "--max-model-len", "8192"]
    assert sizing.engine_kwargs() == {"tensor_parallel_size": 2, "gpu_memory_utilization": 0.8, "max_model_len": 8192}
    assert "--max-model-len" not in VLLMSizing().serve_args()
    cand = Candidate("sft-full", "distilled", str(tmp_path))
    command = server_for(cand, protocol("vllm"), tmp_path, sizing.serve_args()).command
    assert command[command.index("--tensor-parallel-size") + 1] == "2" and "--max-model-len" in command
