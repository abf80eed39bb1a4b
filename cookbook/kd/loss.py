"""The sparse KD loss: the student's next-token distribution against the teacher's top k.

Per response token t (the logits at position t are matched with the token at t+1; prompt
positions never reach this module), with the teacher's k most likely next tokens and
their log-probabilities at temperature T:

    loss_t = kd_weight * T^2 * D(teacher_t, student_t) + (1 - kd_weight) * CE_t
    loss   = sum_t loss_t / (number of response tokens in the optimizer step)

normalised once, per token, by the caller's ``normalizer`` (the trainer counts the tokens
of the whole optimizer step: all micro-batches and all processes).

**The tail.** The store keeps k of the vocabulary's ~150,000 probabilities. We compare
the two distributions over k + 1 outcomes: each of the teacher's top-k tokens, plus one
"any other token" bucket holding the rest of the mass (teacher: 1 - sum of its top-k
probabilities; student: its probability of every token outside the teacher's top k,
computed exactly with a log-sum-exp over the vocabulary). The alternatives are worse:

* renormalising over the top k (EasyDistill, ms-swift's ``gkd_logits_topk``) throws
  away how unsure the teacher is: a teacher at 40% on its top token looks like one at
  95% once the top 10 are rescaled to sum to 1, and the student is pushed to be sure;
* spreading the tail uniformly over the other tokens invents a distribution we never
  stored, and costs a [tokens x vocabulary] teacher tensor.

The bucketed divergence is exact for the distributions it compares, and it is a lower
bound of the full-vocabulary divergence (merging outcomes never increases a KL), equal to
it when the teacher puts no mass outside its top k. fp16 rounding can make the stored
top-k sum a hair above 1: the teacher's tail is floored at ``TAIL_FLOOR`` (1e-6), which
also keeps the reverse KL finite.

**Divergences** (``kind``), over those k + 1 outcomes, with TRL's / ms-swift GKD's
conventions so that the online and offline runs mean the same thing:
``forward_kl`` KL(teacher || student) (mass-covering, the classic KD loss);
``reverse_kl`` KL(student || teacher) (mode-seeking, MiniLLM); ``jsd`` the generalized
Jensen-Shannon divergence with m = beta * teacher + (1 - beta) * student:
beta * KL(teacher || m) + (1 - beta) * KL(student || m).

**Memory.** No [tokens x vocabulary] tensor is ever built for the teacher: it is k
gathers per token. The student side runs in chunks of ``chunk_size`` tokens. With
:func:`fused_kd_loss` the student's logits themselves are computed chunk by chunk from
the last hidden states and the output embedding, and the gradients of each chunk are
computed right away (the approach of Liger Kernel's fused linear losses, written here in
plain PyTorch because Liger's JSD takes full teacher logits, not a top-k): the peak is
one chunk's [chunk x vocabulary] logits, instead of several [tokens x vocabulary] tensors
for a dense loss (bench/kd_loss_memory.py measures it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

TAIL_FLOOR = 1e-6
_LOG_FLOOR = -1e4  # log of "zero" that keeps 0 * log 0 terms finite (exp underflows to exactly 0)


@dataclass(frozen=True)
class KDConfig:
    kind: Literal["forward_kl", "reverse_kl", "jsd"] = "forward_kl"
    beta: float = 0.5  # jsd only: the teacher's weight in the mixture m
    temperature: float = 1.0  # must be the temperature the store was written at
    kd_weight: float = 0.5  # loss = kd_weight * T^2 * KD + (1 - kd_weight) * CE
    chunk_size: int = 1024  # tokens per student chunk

    def __post_init__(self):
        if self.kind not in ("forward_kl", "reverse_kl", "jsd"):
            raise ValueError(f"kind must be forward_kl, reverse_kl or jsd, got {self.kind!r}")
        if self.kind == "jsd" and not 0 < self.beta < 1:
            raise ValueError(f"jsd needs 0 < beta < 1, got {self.beta} (beta 0 / 1 are forward_kl / reverse_kl)")
        if not 0 <= self.kd_weight <= 1 or self.temperature <= 0 or self.chunk_size <= 0:
            raise ValueError("kd_weight must be in [0, 1], temperature and chunk_size above 0")


def teacher_buckets(topk_logprobs: torch.Tensor) -> torch.Tensor:
    """[N, k] teacher log-probs -> [N, k+1] log-probs: the top k, then the tail bucket."""
    lp = topk_logprobs.float()
    tail = (1 - lp.exp().sum(-1)).clamp_min(TAIL_FLOOR).log()
    return torch.cat([lp, tail[:, None]], -1)


def student_buckets(logits: torch.Tensor, topk_ids: torch.Tensor, temperature: float,
                    lse: torch.Tensor | None = None) -> torch.Tensor:
    """[C, V] student logits -> [C, k+1] log-probs at temperature T on the same buckets."""
    z = logits.float() if temperature == 1 else logits.float() / temperature  # no [C, V] copy at T = 1
    if lse is None:
        lse = torch.logsumexp(z, -1, keepdim=True)
    top = z.gather(-1, topk_ids) - lse
    rest = torch.logsumexp(z.scatter(-1, topk_ids, float("-inf")), -1, keepdim=True) - lse
    return torch.cat([top, rest.clamp_min(_LOG_FLOOR)], -1)


def divergence(s: torch.Tensor, t: torch.Tensor, kind: str, beta: float = 0.5) -> torch.Tensor:
    """Per-row divergence between two log-distributions [N, B] (student s, teacher t)."""
    if kind == "forward_kl":
        return (t.exp() * (t - s)).sum(-1)
    if kind == "reverse_kl":
        return (s.exp() * (s - t)).sum(-1)
    m = torch.logsumexp(torch.stack([s + math.log(1 - beta), t + math.log(beta)]), 0)
    return beta * (t.exp() * (t - m)).sum(-1) + (1 - beta) * (s.exp() * (s - m)).sum(-1)


def token_terms(logits: torch.Tensor, targets: torch.Tensor, topk_ids: torch.Tensor,
                topk_logprobs: torch.Tensor, cfg: KDConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(KD_t, CE_t) per token of one chunk: [C] each, unscaled."""
    z = logits.float()
    lse = torch.logsumexp(z, -1, keepdim=True)
    ce = (lse - z.gather(-1, targets[:, None])).squeeze(-1)
    s = student_buckets(z, topk_ids, cfg.temperature, lse if cfg.temperature == 1 else None)
    kd = divergence(s, teacher_buckets(topk_logprobs), cfg.kind, cfg.beta)
    return kd, ce


def _mix(kd: torch.Tensor, ce: torch.Tensor, cfg: KDConfig) -> torch.Tensor:
    return cfg.kd_weight * cfg.temperature ** 2 * kd + (1 - cfg.kd_weight) * ce


def _check(n: int, targets, topk_ids, topk_logprobs, vocab: int) -> None:
    if targets.shape != (n,) or topk_ids.shape[0] != n or topk_ids.shape != topk_logprobs.shape:
        raise ValueError(f"{n} student rows, {tuple(targets.shape)} targets, {tuple(topk_ids.shape)} teacher ids "
                         f"and {tuple(topk_logprobs.shape)} teacher log-probs do not line up")
    if topk_ids.numel() and int(topk_ids.max()) >= vocab:
        raise ValueError(f"teacher token id {int(topk_ids.max())} is outside the student's {vocab} logits: "
                         f"teacher and student vocabularies differ (see cookbook.kd.vocab)")


@dataclass
class LossStats:
    """Sums over the tokens seen (divide by ``tokens`` for means)."""

    kd: float = 0.0
    ce: float = 0.0
    tokens: int = 0
    teacher_top1_is_label: int = 0  # the teacher's top token is the next token of the data

    def add(self, kd, ce, targets, topk_ids) -> None:
        self.kd += float(kd.detach().sum())
        self.ce += float(ce.detach().sum())
        self.tokens += int(targets.numel())
        self.teacher_top1_is_label += int((topk_ids[:, 0] == targets).sum())


def kd_loss(logits: torch.Tensor, targets: torch.Tensor, topk_ids: torch.Tensor, topk_logprobs: torch.Tensor,
            cfg: KDConfig, normalizer: float | None = None, stats: LossStats | None = None) -> torch.Tensor:
    """The loss from student logits [N, V] (response positions only), in checkpointed chunks.

    Each chunk's [chunk x vocabulary] intermediates are freed after its forward and
    recomputed in the backward; only the logits and their gradient are full size.
    """
    from torch.utils.checkpoint import checkpoint

    _check(logits.shape[0], targets, topk_ids, topk_logprobs, logits.shape[-1])
    normalizer = normalizer or max(1, logits.shape[0])
    total = logits.new_zeros((), dtype=torch.float32)

    def chunk_loss(z, y, ids, lp):
        kd, ce = token_terms(z, y, ids, lp, cfg)
        return _mix(kd, ce, cfg).sum(), kd.detach(), ce.detach()

    for s in range(0, logits.shape[0], cfg.chunk_size):
        sl = slice(s, s + cfg.chunk_size)
        args = (logits[sl], targets[sl], topk_ids[sl], topk_logprobs[sl])
        if logits.requires_grad:  # checkpoint re-runs chunk_loss in the backward: stats are added here, once
            loss, kd, ce = checkpoint(chunk_loss, *args, use_reentrant=False)
        else:
            loss, kd, ce = chunk_loss(*args)
        total = total + loss
        if stats is not None:
            stats.add(kd, ce, args[1], args[2])
    return total / normalizer


class _FusedTopKKD(torch.autograd.Function):
    """Loss and gradients in one chunked pass over (hidden states, output embedding)."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, topk_ids, topk_logprobs, cfg, normalizer, stats):
        grad_h = torch.zeros_like(hidden) if ctx.needs_input_grad[0] else None
        grad_w = torch.zeros_like(weight) if ctx.needs_input_grad[1] else None
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        w = weight.detach()
        for s in range(0, hidden.shape[0], cfg.chunk_size):
            sl = slice(s, s + cfg.chunk_size)
            h = hidden[sl].detach()
            with torch.enable_grad():
                z = (h @ w.T).float().requires_grad_(True)
                kd, ce = token_terms(z, targets[sl], topk_ids[sl], topk_logprobs[sl], cfg)
                loss = _mix(kd, ce, cfg).sum() / normalizer
            (dz,) = torch.autograd.grad(loss, z)
            dz = dz.to(hidden.dtype)
            if grad_h is not None:
                grad_h[sl] = dz @ w  # d loss / d h = dz W
            if grad_w is not None:
                grad_w.addmm_(dz.T, h)  # d loss / d W = dz^T h, accumulated without a second [V, H]
            total += loss.detach()
            if stats is not None:
                stats.add(kd, ce, targets[sl], topk_ids[sl])
            del z, dz, kd, ce, loss
        # Kept as attributes, not saved tensors: the backward hands them over without a reference
        # left behind, so autograd can take the [V, H] gradient as it is instead of copying it.
        ctx.grads = [grad_h, grad_w]
        return total

    @staticmethod
    def backward(ctx, grad_out):
        grad_h, grad_w = ctx.grads
        ctx.grads = None
        if float(grad_out) != 1.0:  # in place: these tensors are ours, a copy would double the memory
            grad_h = grad_h.mul_(grad_out) if grad_h is not None else None
            grad_w = grad_w.mul_(grad_out) if grad_w is not None else None
        return grad_h, grad_w, None, None, None, None, None, None


def fused_kd_loss(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, topk_ids: torch.Tensor,
                  topk_logprobs: torch.Tensor, cfg: KDConfig, normalizer: float | None = None,
                  stats: LossStats | None = None) -> torch.Tensor:
    """The loss from the last hidden states [N, H] and the output embedding [V, H].

    The student's [N, V] logits never exist at once: peak memory is one chunk's.
    Call ``backward()`` on the result as usual (the gradients were computed in the
    forward; backward only scales them).
    """
    _check(hidden.shape[0], targets, topk_ids, topk_logprobs, weight.shape[0])
    normalizer = float(normalizer or max(1, hidden.shape[0]))
    return _FusedTopKKD.apply(hidden, weight, targets, topk_ids, topk_logprobs, cfg, normalizer, stats)


# ---------------------------------------------------------------- the dense reference

def dense_reference_loss(logits: torch.Tensor, targets: torch.Tensor, topk_ids: torch.Tensor,
                         topk_logprobs: torch.Tensor, cfg: KDConfig, normalizer: float | None = None) -> torch.Tensor:
    """The same loss written the obvious way on full [N, V] tensors (tests and benchmark only).

    The teacher's top k are scattered into a dense [N, V] distribution, the student's
    tail is summed through a dense mask: what a full-vocabulary KD implementation
    materializes, without chunks or gathers.
    """
    n, v = logits.shape
    z = logits.float()
    s_full = torch.log_softmax(z / cfg.temperature, -1)  # [N, V]
    mask = torch.zeros(n, v, dtype=torch.bool, device=z.device).scatter(-1, topk_ids, True)  # [N, V]
    p_dense = torch.zeros(n, v, device=z.device).scatter(-1, topk_ids, topk_logprobs.float().exp())  # [N, V]
    p_tail = (1 - p_dense.sum(-1)).clamp_min(TAIL_FLOOR)
    q_dense = s_full.exp() * mask  # the student's probabilities on the teacher's top k, dense
    q_tail = (s_full.exp() * ~mask).sum(-1)
    log_p = torch.where(mask, p_dense.clamp_min(1e-45).log(), 0.0)
    log_q = torch.where(mask, s_full, 0.0)
    log_q_tail, log_p_tail = q_tail.clamp_min(math.exp(_LOG_FLOOR)).log(), p_tail.log()
    if cfg.kind == "forward_kl":
        kd = (p_dense * (log_p - log_q)).sum(-1) + p_tail * (log_p_tail - log_q_tail)
    elif cfg.kind == "reverse_kl":
        kd = (q_dense * (log_q - log_p)).sum(-1) + q_tail * (log_q_tail - log_p_tail)
    else:
        b = cfg.beta
        m_dense, m_tail = b * p_dense + (1 - b) * q_dense, b * p_tail + (1 - b) * q_tail
        log_m = torch.where(mask, m_dense.clamp_min(1e-45).log(), 0.0)
        kd = (b * (p_dense * (log_p - log_m)).sum(-1) + b * p_tail * (log_p_tail - m_tail.log())
              + (1 - b) * (q_dense * (log_q - log_m)).sum(-1) + (1 - b) * q_tail * (log_q_tail - m_tail.log()))
    ce = torch.nn.functional.cross_entropy(z, targets, reduction="none")
    return _mix(kd, ce, cfg).sum() / (normalizer or max(1, n))
