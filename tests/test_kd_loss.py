"""The sparse KD loss: exact gradients against a dense reference, tail bucket, normalisation."""

import math

import pytest
import torch

from cookbook.kd.loss import (
    KDConfig,
    LossStats,
    dense_reference_loss,
    fused_kd_loss,
    kd_loss,
    teacher_buckets,
)


def _case(n=200, v=400, h=24, k=10, t=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(n, h, generator=g)
    weight = torch.randn(v, h, generator=g) * 0.5
    targets = torch.randint(0, v, (n,), generator=g)
    teacher = torch.randn(n, v, generator=g) * 3
    lp, ids = torch.log_softmax(teacher / t, -1).topk(k)
    return hidden, weight, targets, ids, lp


def _grads(fn, hidden, weight):
    h, w = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
    loss = fn(h, w)
    loss.backward()
    return loss.detach(), h.grad, w.grad


def _rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("kind", ["forward_kl", "reverse_kl", "jsd"])
@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_sparse_gradients_equal_the_dense_reference_within_1e_5(kind, temperature):
    hidden, weight, y, ids, lp = _case(t=temperature)
    cfg = KDConfig(kind=kind, beta=0.3, temperature=temperature, kd_weight=0.7, chunk_size=64)
    ref = _grads(lambda h, w: dense_reference_loss(h @ w.T, y, ids, lp, cfg), hidden, weight)
    fused = _grads(lambda h, w: fused_kd_loss(h, w, y, ids, lp, cfg), hidden, weight)
    chunked = _grads(lambda h, w: kd_loss(h @ w.T, y, ids, lp, cfg), hidden, weight)
    for got in (fused, chunked):
        assert abs(float(got[0] - ref[0])) <= 1e-5 * max(1.0, abs(float(ref[0])))
        assert _rel(got[1], ref[1]) < 1e-5 and _rel(got[2], ref[2]) < 1e-5


def test_with_the_whole_vocabulary_the_bucketed_kl_is_the_full_kl():
    hidden, weight, y, _, _ = _case(n=50, v=60)
    teacher = torch.log_softmax(torch.randn(50, 60), -1)
    lp, ids = teacher.topk(59)  # the tail bucket holds exactly one token
    cfg = KDConfig(kind="forward_kl", kd_weight=1.0)
    s = torch.log_softmax(hidden @ weight.T, -1)
    full = (teacher.exp() * (teacher - s)).sum(-1).mean()
    assert float(fused_kd_loss(hidden, weight, y, ids, lp, cfg)) == pytest.approx(float(full), rel=1e-5)


def test_the_tail_bucket_keeps_the_teachers_uncertainty():
    # A teacher at 40% on its top token and 60% elsewhere: the tail bucket holds the 60%,
    # where renormalising over the top 1 would claim 100%.
    buckets = teacher_buckets(torch.tensor([[math.log(0.4)]]))
    assert buckets.exp().tolist()[0] == pytest.approx([0.4, 0.6], rel=1e-6)
    # A student that copies the teacher exactly on the buckets has zero KD loss.
    v = 5
    logits = torch.tensor([[math.log(0.4)] + [math.log(0.15)] * (v - 1)])
    cfg = KDConfig(kind="forward_kl", kd_weight=1.0)
    loss = kd_loss(logits, torch.tensor([0]), torch.tensor([[0]]), torch.tensor([[math.log(0.4)]]), cfg)
    assert float(loss) == pytest.approx(0.0, abs=1e-6)


def test_the_loss_is_normalised_once_per_token():
    hidden, weight, y, ids, lp = _case(n=120)
    cfg = KDConfig(chunk_size=50)
    stats = LossStats()
    mean = float(fused_kd_loss(hidden, weight, y, ids, lp, cfg, stats=stats))
    total = float(fused_kd_loss(hidden, weight, y, ids, lp, cfg, normalizer=1.0))
    assert stats.tokens == 120
    assert mean == pytest.approx(total / 120, rel=1e-6)
    assert mean == pytest.approx((0.5 * stats.kd + 0.5 * stats.ce) / 120, rel=1e-5)
    # splitting the tokens in two halves with the global normalizer adds up to the same loss
    halves = sum(float(fused_kd_loss(hidden[s], weight, y[s], ids[s], lp[s], cfg, normalizer=120))
                 for s in (slice(0, 70), slice(70, 120)))
    assert halves == pytest.approx(mean, rel=1e-6)


def test_temperature_scales_the_kd_term_by_t_squared():
    hidden, weight, y, ids, lp = _case(t=2.0)
    stats = LossStats()
    loss = float(fused_kd_loss(hidden, weight, y, ids, lp, KDConfig(temperature=2.0, kd_weight=1.0), stats=stats))
    assert loss == pytest.approx(4.0 * stats.kd / stats.tokens, rel=1e-5)


def test_bad_configurations_and_shapes_fail():
    with pytest.raises(ValueError, match="beta"):
        KDConfig(kind="jsd", beta=0.0)
    with pytest.raises(ValueError, match="kind"):
        KDConfig(kind="kl")
    hidden, weight, y, ids, lp = _case()
    with pytest.raises(ValueError, match="outside the student's"):
        fused_kd_loss(hidden, weight[:5], y, ids, lp, KDConfig())
    with pytest.raises(ValueError, match="do not line up"):
        fused_kd_loss(hidden, weight, y[:-1], ids, lp, KDConfig())
