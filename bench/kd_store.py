"""Offline KD store: bytes per token and decode speed, against EasyDistill 1.x's JSON lines.

Both hold the same thing: for every response token, the teacher's 10 (or 50) most likely
next tokens and their probabilities, at Qwen's vocabulary of 151,936 tokens. EasyDistill
1.x writes one JSON line per sample, a list with one ``{"token id": probability}`` object
per token (about 300 bytes per token at k=10); ours writes float16 log-probs and 18-bit
token ids into memory-mapped shards (cookbook.kd.store). Decoding means: from the file to
the arrays the loss needs (int64 ids, float32 log-probs), for every sample, in one process.

    python bench/kd_store.py          # about 30 s
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from cookbook.kd.store import StoreMeta, StoreWriter, TopKStore

VOCAB = 151_936
SAMPLES, TOKENS_PER_SAMPLE = 200, 1000  # CoT responses of about 1,000 tokens


def teacher_rows(rng, n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """A plausible teacher: a peaked distribution (top token ~0.8), distinct ids."""
    logits = rng.gumbel(size=(n, k)) * 2.0
    logits[:, 0] += 4.0
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True) * 0.98  # 2% outside the top k
    probs = -np.sort(-probs, 1)
    base = rng.integers(0, VOCAB, size=(n, 1))
    ids = ((base + np.arange(k) * 2999) % VOCAB).astype(np.uint32)  # distinct within a row
    return np.log(probs).astype(np.float32), ids


def ours(folder: Path, data, k: int) -> tuple[float, float]:
    meta = StoreMeta(k=k, vocab_size=VOCAB, temperature=1.0)
    with StoreWriter(folder, meta) as w:
        for sid, (lp, ids) in data.items():
            w.add(sid, lp[:, :k], ids[:, :k], prompt_len=1, token_ids=[0] * (len(lp) + 1))
    store = TopKStore(folder)
    tokens = store.tokens()
    best = math.inf
    for _ in range(3):
        store = TopKStore(folder)  # a fresh memory map each time
        t0 = time.perf_counter()
        for sid in data:
            ids, lp = store[sid]
        best = min(best, time.perf_counter() - t0)
    return store.nbytes() / tokens, tokens / best


def easydistill(path: Path, data, k: int) -> tuple[float, float]:
    with open(path, "w") as f:
        for lp, ids in data.values():
            probs = np.exp(lp[:, :k].astype(np.float64))
            f.write(json.dumps([{str(int(i)): float(p) for i, p in zip(row_ids, row_p)}
                                for row_ids, row_p in zip(ids[:, :k], probs)]) + "\n")
    tokens = sum(len(lp) for lp, _ in data.values())
    t0 = time.perf_counter()
    with open(path) as f:
        for line in f:
            rows = json.loads(line)
            ids = np.array([[int(t) for t in r] for r in rows], dtype=np.int64)
            lp = np.log(np.array([list(r.values()) for r in rows], dtype=np.float32))
    seconds = time.perf_counter() - t0
    return path.stat().st_size / tokens, tokens / seconds


def main() -> None:
    rng = np.random.default_rng(0)
    data = {f"sample-{i}": teacher_rows(rng, TOKENS_PER_SAMPLE, 50) for i in range(SAMPLES)}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        b10, speed10 = ours(tmp / "k10", data, 10)
        b50, speed50 = ours(tmp / "k50", data, 50)
        ed_bytes, ed_speed = easydistill(tmp / "easydistill.jsonl", data, 10)
    tokens = SAMPLES * TOKENS_PER_SAMPLE
    print(f"{tokens:,} tokens, vocabulary {VOCAB:,}")
    print(f"ours k=10: {b10:.2f} bytes/token, decoded at {speed10 / 1e6:.2f} M tokens/s")
    print(f"ours k=50: {b50:.2f} bytes/token, decoded at {speed50 / 1e6:.2f} M tokens/s")
    print(f"EasyDistill JSON lines k=10: {ed_bytes:.0f} bytes/token, decoded at {ed_speed / 1e6:.3f} M tokens/s")
    print(json.dumps({
        "bench": "kd_store",
        "figures": {"bytes_per_token_k10": round(b10, 2), "bytes_per_token_k50": round(b50, 2),
                    "decode_tokens_per_s": round(speed10), "decode_tokens_per_s_k50": round(speed50),
                    "easydistill_json_bytes_per_token": round(ed_bytes, 1),
                    "easydistill_decode_tokens_per_s": round(ed_speed)},
        "targets": {"bytes_per_token_k10": "<= 43", "decode_tokens_per_s": ">= 1000000"},
    }))


if __name__ == "__main__":
    main()
