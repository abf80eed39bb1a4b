"""A quick in-process scorer: greedy generation with transformers, checked by math-verify.

Used to measure the tiny world and each training stage in seconds. Benchmarks proper
(GSM8K, MATH-500, AIME, IFEval) go through evalscope in cookbook.eval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from cookbook.data.answers import is_correct
from cookbook.toy.prompts import chat_messages


@dataclass
class Score:
    accuracy: float
    n: int
    responses: list[str]
    correct: list[bool]


@torch.inference_mode()
def generate(model, tokenizer, conversations: Sequence[list[dict]], max_new_tokens: int = 320,
             batch_size: int = 64, chat_template_kwargs: dict | None = None) -> list[str]:
    """Greedy completions of chat conversations, decoded without special tokens."""
    tokenizer.padding_side = "left"
    out: list[str] = []
    for i in range(0, len(conversations), batch_size):
        # chat_template_kwargs: e.g. {"enable_thinking": False} (cookbook.serving.chat_template_kwargs
        # of the recipe's train.thinking); None passes nothing, as before.
        prompts = [tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False,
                                                 **(chat_template_kwargs or {}))
                   for c in conversations[i : i + batch_size]]
        enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        out += tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return out


def score(model, tokenizer, problems, max_new_tokens: int = 320, batch_size: int = 64) -> Score:
    """Accuracy of greedy answers to toy problems (anything with .question and .answer)."""
    responses = generate(model, tokenizer, [chat_messages(p.question) for p in problems],
                         max_new_tokens, batch_size)
    correct = [is_correct(r, p.answer) for r, p in zip(responses, problems)]
    return Score(sum(correct) / max(1, len(correct)), len(correct), responses, correct)
