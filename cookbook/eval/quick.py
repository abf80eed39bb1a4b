"""A quick in-process scorer: greedy generation, checked by math-verify.

Used to measure the tiny world and each training stage on the recipe's probe
(cookbook.eval.probe) in seconds to minutes. Benchmarks proper (GSM8K, MATH-500, AIME,
IFEval) go through evalscope in cookbook.eval.

Where a GPU exists, models load in bfloat16 on it (:func:`load_model`), and with vLLM installed
a model folder generates through vLLM's offline ``LLM`` (:func:`generate_from`); on CPU,
transformers in the checkpoint's own dtype, as before.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from cookbook.data.answers import is_correct
from cookbook.eval.probe import Probe, chat, probe, probe_problems  # noqa: F401  (probe_problems: the notebooks')
from cookbook.recipe import EVAL_PROMPT

TOY_MAX_NEW_TOKENS = 320  # the tiny world's chains: 40-360 tokens, the verbose ones about 200 on toy GSM8K


@dataclass
class Score:
    accuracy: float
    n: int
    responses: list[str]
    correct: list[bool]


def load_model(model_dir: str | Path):
    """(model, tokenizer) for generation: bfloat16 on the GPU when there is one (never fp32 on the
    CPU beside an idle GPU); on the CPU the checkpoint's own dtype, as every stage loaded it before."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if torch.cuda.is_available():
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16).to("cuda")
    else:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto")
    model.eval()
    return model, AutoTokenizer.from_pretrained(model_dir)


def vllm_available() -> bool:
    """A GPU and vLLM: model folders then generate through vLLM's offline engine."""
    return torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None


def generate_vllm(model_dir: str | Path, conversations: Sequence[list[dict]], max_new_tokens: int,
                  temperature: float = 0.0, samples: int = 1, seed: int = 0,
                  chat_template_kwargs: dict | None = None) -> list[list[tuple[str, int]]]:
    """``samples`` completions per conversation with vLLM's offline ``LLM.chat``, as (text, tokens).

    Untested by this project: its machines have no GPU and no vLLM (the CPU path is transformers).
    """
    from vllm import LLM, SamplingParams

    llm = LLM(model=str(model_dir), dtype="bfloat16", seed=seed)
    params = SamplingParams(n=samples, temperature=temperature, top_p=1.0, max_tokens=max_new_tokens, seed=seed)
    outputs = llm.chat(list(conversations), params, use_tqdm=False, chat_template_kwargs=chat_template_kwargs or None)
    del llm
    torch.cuda.empty_cache()
    return [[(c.text, len(c.token_ids)) for c in o.outputs] for o in outputs]


@torch.inference_mode()
def generate(model, tokenizer, conversations: Sequence[list[dict]], max_new_tokens: int = TOY_MAX_NEW_TOKENS,
             batch_size: int = 64, chat_template_kwargs: dict | None = None) -> list[str]:
    """Greedy completions of chat conversations, batched, decoded without special tokens."""
    tokenizer.padding_side = "left"
    out: list[str] = []
    for i in range(0, len(conversations), batch_size):
        # chat_template_kwargs: e.g. {"enable_thinking": False} (cookbook.serving.chat_template_kwargs
        # of the recipe's train.thinking); None passes nothing, as before.
        prompts = [tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False,
                                                 **(chat_template_kwargs or {}))
                   for c in conversations[i : i + batch_size]]
        enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        out += tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return out


def generate_from(model_dir: str | Path, conversations: Sequence[list[dict]],
                  max_new_tokens: int = TOY_MAX_NEW_TOKENS, batch_size: int = 64,
                  chat_template_kwargs: dict | None = None) -> list[str]:
    """Greedy completions from a model folder: vLLM with a GPU and vLLM, else :func:`generate`."""
    if vllm_available():
        return [group[0][0] for group in generate_vllm(model_dir, conversations, max_new_tokens,
                                                       chat_template_kwargs=chat_template_kwargs)]
    model, tokenizer = load_model(model_dir)
    return generate(model, tokenizer, conversations, max_new_tokens, batch_size, chat_template_kwargs)


def _settings(problems, prompt: str | None, max_new_tokens: int | None) -> tuple[str, int]:
    """A Probe brings its prompt and tokens; plain problems the tiny world's (the evaluation's prompt)."""
    if isinstance(problems, Probe):
        return prompt or problems.prompt, max_new_tokens or problems.max_new_tokens
    return prompt or EVAL_PROMPT, max_new_tokens or TOY_MAX_NEW_TOKENS


def template_kwargs(problems) -> dict:
    """The chat template's keyword arguments a Probe brings (the recipe's thinking mode); none otherwise."""
    return problems.template_kwargs if isinstance(problems, Probe) else {}


def _score(responses: list[str], problems) -> Score:
    correct = [is_correct(r, p.answer) for r, p in zip(responses, problems, strict=True)]
    return Score(sum(correct) / max(1, len(correct)), len(correct), responses, correct)


def score(model, tokenizer, problems, max_new_tokens: int | None = None, batch_size: int = 64,
          prompt: str | None = None) -> Score:
    """Accuracy of greedy answers to problems (anything with .question and .answer; a Probe brings
    its prompt and max_new_tokens, plain problems get the evaluation's prompt and 320 tokens)."""
    prompt, max_new_tokens = _settings(problems, prompt, max_new_tokens)
    responses = generate(model, tokenizer, [chat(p.question, prompt) for p in problems], max_new_tokens, batch_size,
                         template_kwargs(problems))
    return _score(responses, problems)


def score_dir(model_dir: str | Path, problems, max_new_tokens: int | None = None, batch_size: int = 64,
              prompt: str | None = None) -> Score:
    """:func:`score` of a model folder, through vLLM where a GPU and vLLM exist."""
    prompt, max_new_tokens = _settings(problems, prompt, max_new_tokens)
    responses = generate_from(model_dir, [chat(p.question, prompt) for p in problems], max_new_tokens, batch_size,
                              template_kwargs(problems))
    return _score(responses, problems)
