"""What the preference and RL stages optimise, measured the same way before and after.

* :func:`quick_accuracy`: accuracy on the recipe's probe (cookbook.eval.probe) with
  cookbook.eval.quick, the one scoring function of every training stage; :func:`changed_answers` counts the problems a
  stage broke and fixed, so that a drop can be told from noise (McNemar's test).
* :func:`preference_margin`: mean over pairs of log p(chosen) - log p(rejected), summed over
  the reply's tokens, under one model. DPO and CogPO should raise it on pairs they never
  saw (:func:`split_heldout` keeps some aside).
* :func:`mean_reward`: the mean GRPO reward of sampled answers (temperature as in training)
  to a fixed set of problems, with the same reward functions the training used.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import torch

from cookbook.io import read_jsonl, write_jsonl
from cookbook.train import rewards as R
from cookbook.train.export import conversation_ids, load


def quick_accuracy(model_dir: str | Path, problems, max_new_tokens: int | None = None, prompt: str | None = None):
    """Greedy accuracy of a model folder on ``problems`` (returns the Score: accuracy, responses...).

    ``problems``: the probe (cookbook.eval.probe: its prompt and max_new_tokens come with it), or
    plain problems (the evaluation's prompt, 320 tokens). bfloat16 on a GPU, vLLM where installed.
    """
    from cookbook.eval.quick import score_dir

    return score_dir(model_dir, problems, max_new_tokens=max_new_tokens, prompt=prompt)


def changed_answers(before, after) -> dict[str, int]:
    """Problems ``after`` gets wrong that ``before`` got right (broken) and the reverse (fixed),
    for two Scores of the same problems: what a paired test of the change needs (McNemar)."""
    if before.n != after.n:
        raise ValueError(f"scores of different problem sets: {before.n} vs {after.n} problems")
    pairs = list(zip(before.correct, after.correct))
    return {"broken": sum(b and not a for b, a in pairs), "fixed": sum(a and not b for b, a in pairs)}


def mcnemar_p(broken: int, fixed: int) -> float:
    """McNemar's exact test, two-sided: the chance of a split of the changed answers at least this
    uneven if the change made no difference (each changed answer as likely broken as fixed)."""
    from scipy.stats import binomtest

    return binomtest(broken, broken + fixed, 0.5).pvalue if broken + fixed else 1.0


def mean_tokens(model_dir: str | Path, texts: list[str]) -> float:
    """Mean length of texts in the tokens of a model folder's tokenizer (what an answer costs)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    return sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts) / max(1, len(texts))


def change_metrics(before, after: dict[str, object]) -> dict[str, int]:
    """``broken_<name>`` and ``fixed_<name>`` (:func:`changed_answers`) for each named Score."""
    out = {}
    for name, score in after.items():
        out |= {f"{k}_{name}": v for k, v in changed_answers(before, score).items()}
    return out


# ---------------------------------------------------------------- held-out pairs

def _prompt_key(row: dict) -> str:
    prompt = [m for m in row["messages"] if m["role"] == "user"][0]["content"]
    return hashlib.sha256(prompt.encode()).hexdigest()


def split_heldout(path: str | Path, out_dir: str | Path, every: int = 10) -> tuple[Path, Path]:
    """``<name>.train.jsonl`` and ``<name>.heldout.jsonl`` beside each other in ``out_dir``.

    Whole questions are held out, in the order of a hash of their prompt, until at least one
    row in ``every`` is: a fixed share whatever the number of rows (how many mistakes the SFT
    student made varies from run to run), and the same questions in files of the same prompts.
    """
    path, out_dir = Path(path), Path(out_dir)
    rows = read_jsonl(path)
    by_question: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_question.setdefault(_prompt_key(r), []).append(i)
    held_ids: set[int] = set()
    for key in sorted(by_question):
        if len(held_ids) * every >= len(rows):
            break
        held_ids.update(by_question[key])
    train = [r for i, r in enumerate(rows) if i not in held_ids]
    held = [r for i, r in enumerate(rows) if i in held_ids]
    if not train or not held:
        raise ValueError(f"{path}: {len(rows)} rows of {len(by_question)} questions are too few to hold "
                         f"one in {every} out and train on the rest")
    train_path, held_path = heldout_paths(path, out_dir)
    return write_jsonl(train_path, train), write_jsonl(held_path, held)


def heldout_paths(path: str | Path, out_dir: str | Path) -> tuple[Path, Path]:
    """Where :func:`split_heldout` writes: ``<name>.train.jsonl`` and ``<name>.heldout.jsonl`` (cookbook.plan's too)."""
    stem = Path(path).name.removesuffix(".jsonl")
    return Path(out_dir) / f"{stem}.train.jsonl", Path(out_dir) / f"{stem}.heldout.jsonl"


# ---------------------------------------------------------------- preference margin

@torch.inference_mode()
def sequence_logps(model, tokenizer, prompts: Sequence[list[dict]], replies: Sequence[str],
                   batch_size: int = 16) -> list[float]:
    """log p(reply | prompt), summed over the reply's tokens, for each pair."""
    encoded = [conversation_ids(tokenizer, [*p, {"role": "assistant", "content": r}])
               for p, r in zip(prompts, replies, strict=True)]
    out: list[float] = []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for i in range(0, len(encoded), batch_size):
        chunk = encoded[i : i + batch_size]
        width = max(len(ids) for ids, _ in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, (seq, _) in enumerate(chunk):
            ids[r, : len(seq)] = torch.tensor(seq)
            mask[r, : len(seq)] = 1
        ids, mask = ids.to(model.device), mask.to(model.device)
        logps = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits[:, :-1].float(), -1)
        token_logps = logps.gather(-1, ids[:, 1:, None]).squeeze(-1)
        for r, (seq, start) in enumerate(chunk):
            out.append(token_logps[r, start - 1 : len(seq) - 1].sum().item())
    return out


def preference_margin(model_dir: str | Path, pairs_path: str | Path) -> float:
    """Mean of log p(chosen) - log p(rejected) over the pairs of a dpo/cogpo file."""
    rows = read_jsonl(pairs_path)
    model, tokenizer = load(model_dir)
    prompts = [r["messages"][:-1] for r in rows]
    chosen = sequence_logps(model, tokenizer, prompts, [r["messages"][-1]["content"] for r in rows])
    rejected = sequence_logps(model, tokenizer, prompts, [r["rejected_response"] for r in rows])
    return sum(c - r for c, r in zip(chosen, rejected)) / len(rows)


# ---------------------------------------------------------------- mean reward

@torch.inference_mode()
def sample_answers(model, tokenizer, conversations: Sequence[list[dict]], samples: int, temperature: float,
                   max_new_tokens: int, seed: int, batch_size: int = 64,
                   chat_template_kwargs: dict | None = None) -> list[list[tuple[str, int]]]:
    """``samples`` sampled replies per conversation, as (text, token count).

    ``chat_template_kwargs``: passed to the chat template, e.g. ``{"enable_thinking": True}``
    (cookbook.serving.chat_template_kwargs of the recipe's train.thinking); None: nothing, as before.
    """
    torch.manual_seed(seed)
    tokenizer.padding_side = "left"
    flat = [c for c in conversations for _ in range(samples)]
    out: list[tuple[str, int]] = []
    for i in range(0, len(flat), batch_size):
        prompts = [tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False,
                                                 **(chat_template_kwargs or {}))
                   for c in flat[i : i + batch_size]]
        enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=True, temperature=temperature,
                             top_k=0, top_p=1.0, pad_token_id=tokenizer.pad_token_id)
        new = gen[:, enc["input_ids"].shape[1]:]
        for row in new:
            ids = [t for t in row.tolist() if t != tokenizer.pad_token_id]
            out.append((tokenizer.decode(ids, skip_special_tokens=True), len(ids)))
    return [out[j * samples : (j + 1) * samples] for j in range(len(conversations))]


def sample_from(model_dir: str | Path, conversations: Sequence[list[dict]], samples: int, temperature: float,
                max_new_tokens: int, seed: int,
                chat_template_kwargs: dict | None = None) -> list[list[tuple[str, int]]]:
    """:func:`sample_answers` of a model folder: vLLM's offline engine with a GPU and vLLM, else
    transformers (bfloat16 on a GPU; on the CPU as before)."""
    from cookbook.eval.quick import generate_vllm, load_model, vllm_available

    if vllm_available():
        return generate_vllm(model_dir, conversations, max_new_tokens, temperature, samples, seed, chat_template_kwargs)
    model, tokenizer = load_model(model_dir)
    return sample_answers(model, tokenizer, conversations, samples, temperature, max_new_tokens, seed,
                          chat_template_kwargs=chat_template_kwargs)


def reward_table(texts: Sequence[str], lengths: Sequence[int], solutions: Sequence, names: Sequence[str],
                 overlong: tuple[int, int] | None = None, thinking: bool = False) -> dict[str, list[float]]:
    """Each named reward for each answer, computed by the functions GRPO trained with
    (``thinking``: the format reward of train.thinking on, cookbook.train.rewards.is_well_formed)."""
    table: dict[str, list[float]] = {}
    for name in names:
        if name == "accuracy":
            table[name] = R.accuracy_rewards(texts, solutions)
        elif name == "format":
            table[name] = R.format_rewards(texts, thinking)
        elif name == "overlong":
            if overlong is None:
                raise ValueError("the overlong reward needs (max_tokens, buffer)")
            table[name] = R.overlong_rewards(lengths, *overlong)
        else:
            raise ValueError(f"unknown reward {name!r}")
    return table


def mean_reward(model_dir: str | Path, problems, names: Sequence[str] = ("accuracy", "format"),
                weights: Sequence[float] | None = None, samples: int = 4, temperature: float = 1.0,
                max_new_tokens: int | None = None, overlong: tuple[int, int] | None = None, seed: int = 0,
                prompt: str | None = None) -> dict:
    """Mean total reward (weighted as in training) of sampled answers, and each reward's mean.

    ``problems``: the probe (its prompt and max_new_tokens unless given) or plain problems
    (the evaluation's prompt, 320 tokens)."""
    from cookbook.eval.quick import _settings, chat, template_kwargs

    prompt, max_new_tokens = _settings(problems, prompt, max_new_tokens)
    kwargs = template_kwargs(problems)  # the recipe's thinking mode: the template and the format reward follow it
    answers = sample_from(model_dir, [chat(p.question, prompt) for p in problems], samples, temperature,
                          max_new_tokens, seed, kwargs)
    texts = [t for group in answers for t, _ in group]
    lengths = [n for group in answers for _, n in group]
    solutions = [p.answer for p in problems for _ in range(samples)]
    table = reward_table(texts, lengths, solutions, names, overlong, thinking=bool(kwargs.get("enable_thinking")))
    weights = list(weights) if weights is not None else [1.0] * len(names)
    total = [sum(w * table[n][i] for n, w in zip(names, weights)) for i in range(len(texts))]
    return {"mean_reward": sum(total) / len(total)} | {n: sum(v) / len(v) for n, v in table.items()}


def save_json(path: str | Path, obj) -> Path:
    from cookbook.io import atomic_write_json

    return atomic_write_json(path, json.loads(json.dumps(obj, default=str)))
