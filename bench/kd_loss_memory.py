"""KD loss memory: our chunked top-k loss against a dense full-vocabulary implementation.

At Qwen's vocabulary (151,936) and 2,048 response tokens, from the student's last hidden
states (width 896, Qwen2.5-0.5B's) and its output embedding, forward KL over the
teacher's top 10 plus the tail bucket, mixed half and half with the cross-entropy:

* dense: logits [tokens x vocabulary], the teacher's top 10 scattered into a dense
  [tokens x vocabulary] distribution, log-softmax, the tail through a dense mask; autograd
  keeps these for the backward (what a full-vocabulary KD loss, EasyDistill's included,
  materializes);
* ours: cookbook.kd.loss.fused_kd_loss, 128 tokens at a time, gradients computed chunk
  by chunk: no [tokens x vocabulary] tensor at all.

Each runs forward + backward in its own process; the figure is the peak resident memory
above what the inputs (hidden states, embedding, teacher rows) already took, so the
embedding's gradient (545 MB, the same for both) is counted on both sides. Gradients are
compared element by element. Needs about 8 GB of free memory for the dense side.

    python bench/kd_loss_memory.py          # about 1 minute on 2 cores
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

N, V, H, K, CHUNK = 2048, 151_936, 896, 10, 128


def inputs():
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(N, H, generator=g).requires_grad_()
    weight = torch.randn(V, H, generator=g).mul_(0.02).requires_grad_()  # in place: no transient copy in the baseline
    targets = torch.randint(0, V, (N,), generator=g)
    ids = torch.stack([torch.randperm(V, generator=g)[:K] for _ in range(8)]).repeat(N // 8, 1)
    lp = torch.log_softmax(torch.randn(N, K + 1, generator=g) * 2, -1)[:, :K]  # 1 - sum = the teacher's tail
    return hidden, weight, targets, ids, lp


def dense_loss(hidden, weight, targets, ids, lp):
    logits = hidden @ weight.T  # [N, V]
    s = torch.log_softmax(logits, -1)  # [N, V]
    mask = torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, ids, True)  # [N, V]
    p = torch.zeros_like(logits).scatter_(-1, ids, lp.exp())  # the teacher, dense [N, V]
    p_tail = (1 - lp.exp().sum(-1)).clamp_min(1e-6)
    q_tail = torch.logsumexp(s.masked_fill(mask, float("-inf")), -1)  # log of the student's tail
    kd = (p * (torch.where(mask, p, 1.0).log() - s)).sum(-1) + p_tail * (p_tail.log() - q_tail)
    ce = -s.gather(-1, targets[:, None]).squeeze(-1)
    return (0.5 * kd + 0.5 * ce).sum() / N


def ours_loss(hidden, weight, targets, ids, lp):
    from cookbook.kd.loss import KDConfig, fused_kd_loss

    return fused_kd_loss(hidden, weight, targets, ids, lp, KDConfig(kd_weight=0.5, chunk_size=CHUNK))


def child(which: str, out: str) -> None:
    torch.set_num_threads(2)
    args = inputs()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux: the inputs' peak so far
    loss = (dense_loss if which == "dense" else ours_loss)(*args)
    loss.backward()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    np.save(Path(out) / f"{which}_h.npy", args[0].grad.numpy())
    np.save(Path(out) / f"{which}_w.npy", args[1].grad.numpy())
    print(json.dumps({"loss": float(loss), "peak_mb": (peak - base) / 1024}))


def run(which: str, out: str) -> dict:
    res = subprocess.run([sys.executable, __file__, which, out], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    with tempfile.TemporaryDirectory() as out:
        ours = run("ours", out)
        dense = run("dense", out)
        diffs = []
        for part in ("h", "w"):
            a, b = np.load(Path(out) / f"ours_{part}.npy"), np.load(Path(out) / f"dense_{part}.npy")
            diffs.append(float(np.abs(a - b).max() / np.abs(b).max()))
    print(f"{N:,} tokens, vocabulary {V:,}, hidden {H}, top-{K}")
    print(f"dense: peak +{dense['peak_mb']:,.0f} MB, loss {dense['loss']:.6f}")
    print(f"ours:  peak +{ours['peak_mb']:,.0f} MB, loss {ours['loss']:.6f} (chunks of {CHUNK} tokens)")
    print(json.dumps({
        "bench": "kd_loss_memory",
        "figures": {"peak_memory_ratio_vs_dense": round(ours["peak_mb"] / dense["peak_mb"], 4),
                    "max_grad_rel_diff": max(diffs), "ours_peak_mb": round(ours["peak_mb"]),
                    "dense_peak_mb": round(dense["peak_mb"])},
        "targets": {"peak_memory_ratio_vs_dense": "<= 0.125", "max_grad_rel_diff": "<= 1e-05"},
    }))


if __name__ == "__main__":
    if len(sys.argv) == 3:
        child(sys.argv[1], sys.argv[2])
    else:
        main()
