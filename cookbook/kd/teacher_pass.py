"""The teacher pass of offline KD: score the training set once, store the top-k log-probs.

The teacher is teacher-forced on exactly the student's token ids (cookbook.kd.samples):
for each response position t it gives its distribution over token t+1, of which we keep
the k most likely tokens and their log-probabilities at the KD temperature
(``log_softmax(logits / T)``: the tail mass at T is only known here). Prompt positions
are not stored.

Two back-ends:

* ``transformers`` (CPU, the tiny profile, or any GPU without vLLM): a batched forward
  pass, length-sorted to waste little on padding;
* ``vllm`` (GPU): ``SamplingParams(max_tokens=1, prompt_logprobs=k)`` on token-id prompts,
  the teacher's distribution at every prompt position in one prefill. Kept thin and not
  run on this project's CPU machines.

The pass is resumable: a sample already in the store is skipped, so a killed pass
continues where it stopped. Before any compute, the teacher's tokenizer is checked
against the student's (:func:`cookbook.kd.vocab.check_vocabularies`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from cookbook.kd.samples import Sample
from cookbook.kd.store import StoreMeta, StoreWriter, TopKStore
from cookbook.kd.vocab import check_vocabularies, tokenizer_fingerprint
from cookbook.procs import release_gpu

MAX_BATCH_TOKENS = 16384  # tokens of one transformers forward of the teacher (padding included)


def _batches(samples: Sequence[Sample], max_tokens: int):
    """Length-sorted batches of at most ``max_tokens`` padded tokens."""
    order = sorted(samples, key=lambda s: len(s.input_ids))
    batch: list[Sample] = []
    for s in order:
        if batch and (len(batch) + 1) * len(s.input_ids) > max_tokens:
            yield batch
            batch = []
        batch.append(s)
    if batch:
        yield batch


@torch.inference_mode()
def response_logprobs(model, batch: Sequence[Sample], vocab: int, temperature: float):
    """For each sample, [n, vocab] log-probs of its response positions (t predicts t+1)."""
    width = max(len(s.input_ids) for s in batch)
    ids = torch.zeros(len(batch), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for r, s in enumerate(batch):
        ids[r, : len(s.input_ids)] = torch.tensor(s.input_ids)
        mask[r, : len(s.input_ids)] = 1
    device = next(model.parameters()).device
    logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
    for r, s in enumerate(batch):
        # logits at t are the distribution of token t+1: response tokens are prompt_len .. len-1
        # the columns past the tokenizer's vocabulary (padding of a wider head) are dropped
        rows = logits[r, s.prompt_len - 1 : len(s.input_ids) - 1, :vocab].float()
        yield s, torch.log_softmax(rows / temperature, -1)


def run_teacher_pass(teacher_dir: str | Path, student_dir: str | Path, samples: Sequence[Sample],
                     store_dir: str | Path, k: int, temperature: float = 1.0, backend: str = "transformers",
                     max_batch_tokens: int = MAX_BATCH_TOKENS, progress: bool = True,
                     vllm_kwargs: dict | None = None) -> TopKStore:
    """Score every sample not yet in the store; returns the (complete) store. ``vllm_kwargs``: the
    vLLM engine's size (the recipe's kd.vllm: tensor parallelism, memory share, max_model_len)."""
    from transformers import AutoTokenizer

    if backend not in ("transformers", "vllm"):
        raise ValueError(f"backend must be transformers or vllm, got {backend!r}")
    teacher_tok = AutoTokenizer.from_pretrained(str(teacher_dir))
    vocab = check_vocabularies(teacher_dir, student_dir)  # before any compute
    meta = StoreMeta(k=k, vocab_size=vocab, temperature=temperature, teacher=str(teacher_dir),
                     tokenizer_sha=tokenizer_fingerprint(teacher_tok))
    with StoreWriter(store_dir, meta) as writer:
        todo = [s for s in samples if s.id not in writer]
        if todo and backend == "vllm":
            _vllm_pass(teacher_dir, todo, writer, k, temperature, vocab, vllm_kwargs or {})
        elif todo:
            _transformers_pass(teacher_dir, todo, writer, k, temperature, vocab, max_batch_tokens, progress)
    return TopKStore(store_dir)


def _transformers_pass(teacher_dir, todo, writer, k, temperature, vocab, max_batch_tokens, progress):
    from tqdm import tqdm

    from cookbook.train.export import load

    model, _ = load(teacher_dir)
    bar = tqdm(total=len(todo), desc="teacher pass", unit="sample", disable=not progress)
    for batch in _batches(todo, max_batch_tokens):
        for s, logprobs in response_logprobs(model, batch, vocab, temperature):
            top = logprobs.topk(k, -1)
            writer.add(s.id, top.values.numpy(), top.indices.numpy().astype(np.uint32),
                       prompt_len=s.prompt_len, token_ids=s.input_ids)
        bar.update(len(batch))
    bar.close()


def vllm_engine_args(teacher_dir: str | Path, k: int, engine_kwargs: dict) -> dict:
    """``vllm.LLM``'s arguments for the teacher pass: the recipe's kd.vllm size, and k log-probs a token."""
    return {"model": str(teacher_dir), "max_logprobs": k, **engine_kwargs}


def _vllm_pass(teacher_dir, todo, writer, k, temperature, vocab, engine_kwargs):  # pragma: no cover - GPU only
    """vLLM's prompt_logprobs: entry i of ``out.prompt_logprobs`` is the distribution of token i."""
    if temperature != 1.0:
        raise ValueError("the vllm teacher pass stores raw log-probs (temperature 1); use backend='transformers' "
                         "for another KD temperature")
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    release_gpu()  # what the kernel holds (the top-k plot's teacher) would shrink vLLM's share
    llm = LLM(**vllm_engine_args(teacher_dir, k, engine_kwargs))
    params = SamplingParams(max_tokens=1, prompt_logprobs=k, temperature=1.0)
    for start in range(0, len(todo), 256):
        chunk = todo[start : start + 256]
        outs = llm.generate([TokensPrompt(prompt_token_ids=list(s.input_ids)) for s in chunk], params, use_tqdm=True)
        for s, out in zip(chunk, outs, strict=True):
            lps, ids = topk_rows(out.prompt_logprobs, s, k, vocab)
            writer.add(s.id, lps, ids, prompt_len=s.prompt_len, token_ids=s.input_ids)
    del llm  # free the GPU for the training that follows in the same process
    release_gpu()


def topk_rows(prompt_logprobs: Sequence[dict | None], sample: Sample, k: int, vocab: int):
    """The k best (log-prob, id) of each response position from vLLM's ``prompt_logprobs``.

    Entry i is the distribution of token i (``{id: Logprob}``; entry 0 is None). Each dict holds
    vLLM's k best plus the actual token when it is not among them, so it is sorted and cut to k.
    Ids of a wider head's padding rows (>= the student's vocabulary) are dropped, as the
    transformers pass drops them.
    """
    rows = prompt_logprobs[sample.prompt_len : len(sample.input_ids)]
    ids = np.zeros((len(rows), k), np.uint32)
    lps = np.zeros((len(rows), k), np.float32)
    for i, row in enumerate(rows):
        best = sorted(((t, lp.logprob) for t, lp in row.items() if t < vocab), key=lambda kv: -kv[1])[:k]
        if len(best) < k:
            raise ValueError(f"sample {sample.id}: vLLM returned {len(best)} log-probs in the vocabulary at "
                             f"response position {i}, fewer than k={k}")
        ids[i] = [t for t, _ in best]
        lps[i] = [lp for _, lp in best]
    return lps, ids


@torch.inference_mode()
def cumulative_topk_mass(teacher_dir: str | Path, samples: Sequence[Sample], max_k: int = 50,
                         temperature: float = 1.0, max_batch_tokens: int = 16384) -> np.ndarray:
    """Mean over response positions of the teacher's probability mass in its top 1..max_k tokens."""
    from cookbook.train.export import load

    model, tok = load(teacher_dir)
    vocab = len(tok)
    total, n = np.zeros(min(max_k, vocab)), 0
    for batch in _batches(samples, max_batch_tokens):
        for _, logprobs in response_logprobs(model, batch, vocab, temperature):
            top = logprobs.topk(min(max_k, vocab), -1).values.exp().cumsum(-1)
            total += top.sum(0).numpy()
            n += top.shape[0]
    return total / max(1, n)
