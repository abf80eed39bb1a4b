"""CogPO's loss: checked by hand on a tiny batch, and equal to ms-swift's DPO when betas are equal."""

import math
from types import SimpleNamespace

import pytest
import torch
from swift.rlhf_trainers import DPOTrainer

from cookbook.train.cogpo import CogPOTrainer, cogpo_losses

# Sequence log-probabilities of 3 pairs: policy chosen / rejected, reference chosen / rejected.
PC = torch.tensor([-10.0, -20.0, -5.0])
PR = torch.tensor([-12.0, -18.0, -9.0])
RC = torch.tensor([-11.0, -19.0, -6.0])
RR = torch.tensor([-11.5, -19.5, -8.0])


def trainer(cls, beta=0.1, pair_betas=None):
    """The loss code of the trainer without building a model: only what dpo_loss reads."""
    t = cls.__new__(cls)
    t.beta, t.label_smoothing, t.reference_free = beta, 0.0, False
    t.f_divergence_type, t.f_divergence_params = "reverse_kl", {}
    t.accelerator = SimpleNamespace(device=torch.device("cpu"))
    if pair_betas is not None:
        t._pair_betas = torch.tensor(pair_betas, dtype=torch.float32)
    return t


def by_hand(pc, pr, rc, rr, beta):
    margin = (pc - pr) - (rc - rr)
    return -math.log(1 / (1 + math.exp(-beta * margin)))


def test_loss_by_hand_on_a_tiny_batch():
    betas = [0.1, 0.5, 2.0]
    losses, chosen_rewards, rejected_rewards = trainer(CogPOTrainer, pair_betas=betas).dpo_loss(PC, PR, RC, RR)
    # pair 0: margin (−10 − −12) − (−11 − −11.5) = 2 − 0.5 = 1.5; pair 1: −2 − 0.5 = −2.5; pair 2: 4 − 2 = 2
    expected = [by_hand(*(float(t[i]) for t in (PC, PR, RC, RR)), betas[i]) for i in range(3)]
    assert expected[0] == pytest.approx(math.log(1 + math.exp(-0.15)))
    assert losses.tolist() == pytest.approx(expected, rel=1e-6)
    assert chosen_rewards.tolist() == pytest.approx([0.1 * 1.0, 0.5 * -1.0, 2.0 * 1.0])
    assert rejected_rewards.tolist() == pytest.approx([0.1 * -0.5, 0.5 * 1.5, 2.0 * -1.0])
    assert torch.allclose(losses, cogpo_losses(PC, PR, RC, RR, torch.tensor(betas)))


def test_equal_betas_reproduce_dpo_exactly():
    for beta in (0.1, 0.37, 2.0):
        cog = trainer(CogPOTrainer, beta=beta, pair_betas=[beta] * 3).dpo_loss(PC, PR, RC, RR)
        dpo = trainer(DPOTrainer, beta=beta).dpo_loss(PC, PR, RC, RR)
        for a, b in zip(cog, dpo):
            assert torch.equal(a, b)  # bit for bit, not approximately


def test_different_betas_weigh_pairs_differently():
    low = trainer(CogPOTrainer, pair_betas=[0.1, 0.1, 0.1]).dpo_loss(PC, PR, RC, RR)[0]
    mixed = trainer(CogPOTrainer, pair_betas=[0.1, 0.1, 1.0]).dpo_loss(PC, PR, RC, RR)[0]
    assert torch.equal(low[:2], mixed[:2]) and mixed[2] < low[2]  # a larger beta: a firmer preference


def test_without_pair_betas_it_is_plain_dpo_and_restores_beta():
    t = trainer(CogPOTrainer, beta=0.2)
    dpo = trainer(DPOTrainer, beta=0.2).dpo_loss(PC, PR, RC, RR)[0]
    assert torch.equal(t.dpo_loss(PC, PR, RC, RR)[0], dpo)
    t2 = trainer(CogPOTrainer, beta=0.2, pair_betas=[1.0, 2.0, 3.0])
    t2.dpo_loss(PC, PR, RC, RR)
    assert t2.beta == 0.2  # the scalar comes back after the per-pair loss


def test_wrong_number_of_betas_and_sorting_losses_are_refused():
    with pytest.raises(ValueError, match="2 betas for 3 pairs"):
        trainer(CogPOTrainer, pair_betas=[0.1, 0.2]).dpo_loss(PC, PR, RC, RR)
    with pytest.raises(ValueError, match="aot"):
        trainer(CogPOTrainer, pair_betas=[0.1] * 3).dpo_loss(PC, PR, RC, RR, loss_type="aot")


def test_batch_beta_column_is_taken_out_before_the_forward_pass(monkeypatch):
    seen = {}

    def parent(self, model, batch, train_eval="train", pair_loss_scale=None):
        seen["keys"] = set(batch)
        seen["betas"] = self._pair_betas.tolist()
        return torch.tensor(0.0), {}

    monkeypatch.setattr(DPOTrainer, "get_batch_loss_metrics", parent)
    t = trainer(CogPOTrainer)
    t.get_batch_loss_metrics(None, {"input_ids": 1, "beta": [0.5, 0.25]})
    assert seen == {"keys": {"input_ids"}, "betas": [0.5, 0.25]} and t._pair_betas is None
    with pytest.raises(ValueError, match="needs a 'beta'"):
        t.get_batch_loss_metrics(None, {"input_ids": 1})
