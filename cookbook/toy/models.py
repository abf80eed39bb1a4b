"""Tiny Qwen2-architecture models and the loop that trains them from scratch.

The tiny world needs a teacher and a base student that exist before any distillation:
we pretrain them here. This is a plain torch loop rather than ms-swift or the HF
Trainer on purpose: it is world-building, not a lesson, it must start in a second and
finish in minutes on 2 cores, and it trains on pre-tokenized tensors. Every lesson
(SFT, KD, DPO, GRPO) goes through ms-swift instead.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM


@dataclass(frozen=True)
class ModelSpec:
    layers: int
    hidden: int
    heads: int
    intermediate: int
    max_positions: int = 512


@dataclass(frozen=True)
class TrainSpec:
    steps: int
    batch_size: int
    lr: float
    warmup: int = 50
    weight_decay: float = 0.01


def build_model(spec: ModelSpec, tokenizer: PreTrainedTokenizerFast, seed: int) -> Qwen2ForCausalLM:
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden,
        intermediate_size=spec.intermediate,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        num_key_value_heads=spec.heads,
        max_position_embeddings=spec.max_positions,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.pad_token_id,
        torch_dtype="float32",
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    model.generation_config.do_sample = False
    return model


def param_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def encode_example(tokenizer: PreTrainedTokenizerFast, messages: list[dict], response: str) -> tuple[list[int], int]:
    """Token ids of prompt + response + <|im_end|>, and where the response starts."""
    prompt_ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    if isinstance(prompt_ids, dict) or hasattr(prompt_ids, "input_ids"):
        prompt_ids = prompt_ids["input_ids"]
    response_ids = tokenizer(response + "<|im_end|>", add_special_tokens=False)["input_ids"]
    return list(prompt_ids) + response_ids, len(prompt_ids)


def train_causal_lm(
    model: Qwen2ForCausalLM,
    examples: Sequence[tuple[list[int], int]],
    spec: TrainSpec,
    pad_id: int,
    seed: int,
    log: Callable[[int, float, float], None] | None = None,
) -> list[float]:
    """Next-token training with the loss on response tokens only; returns losses per step."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _warmup_cosine(s, spec.warmup, spec.steps))
    model.train()
    losses, t0, batches = [], time.time(), []
    for step in range(spec.steps):
        if not batches:
            # Eight batches' worth of examples at a time, grouped by length: a batch pads to its
            # longest row, and chains run from 40 to 360 tokens (group_by_length, as HF does).
            pool = sorted(rng.sample(range(len(examples)), spec.batch_size * 8), key=lambda i: len(examples[i][0]))
            batches = [pool[k : k + spec.batch_size] for k in range(0, len(pool), spec.batch_size)]
            rng.shuffle(batches)
        batch = batches.pop()
        ids, labels, mask = _collate([examples[i] for i in batch], pad_id)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if log and (step % 100 == 0 or step == spec.steps - 1):
            log(step, loss.item(), time.time() - t0)
    model.eval()
    return losses


def _collate(rows: Sequence[tuple[list[int], int]], pad_id: int):
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, (seq, start) in enumerate(rows):
        ids[r, : len(seq)] = torch.tensor(seq)
        labels[r, start : len(seq)] = torch.tensor(seq[start:])
        mask[r, : len(seq)] = 1
    return ids, labels, mask


def _warmup_cosine(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


def spec_dict(spec) -> dict:
    return asdict(spec)
