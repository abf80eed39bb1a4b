"""CogPO: DPO whose beta is carried by each pair (DistilQwen2.5-R1).

    loss_i = -log sigmoid(beta_i * ((logp_c - logp_r) - (ref_c - ref_r)))

A pair the student should learn firmly (a hard question, a big gap between the chains)
carries a larger beta than one it should only lean towards. With every beta_i equal to
beta this *is* DPO, and the trainer below then computes exactly what ms-swift's DPO
trainer computes (tests/test_train_cogpo.py checks both, and the formula by hand).

ms-swift has no CogPO, so this is a small subclass of ms-swift's own DPOTrainer: the
data rows carry a ``beta`` column (cookbook.data.formats, format "cogpo"), ms-swift's rlhf
pipeline keeps extra columns (remove_unused_columns=False) and hands them to the trainer
in the batch; the subclass takes them out before the forward pass and lets ms-swift's
``dpo_loss`` run with a per-pair beta tensor in place of the scalar. Everything else
(reference model, logging, label smoothing, DeepSpeed, several GPUs) stays ms-swift's.
``plugins/cogpo_plugin.py`` makes ``swift rlhf --rlhf_type dpo`` use it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from swift.rlhf_trainers import DPOTrainer

BETA_COLUMN = "beta"


def cogpo_losses(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
                 ref_rejected: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """Per-pair CogPO losses from sequence log-probabilities (the formula, for reading and tests)."""
    margins = (policy_chosen - policy_rejected) - (ref_chosen - ref_rejected)
    return -F.logsigmoid(betas * margins)


class CogPOTrainer(DPOTrainer):
    """ms-swift's DPOTrainer with beta taken per pair from the batch's ``beta`` column."""

    _pair_betas: torch.Tensor | None = None

    def get_batch_loss_metrics(self, model, batch, train_eval="train", pair_loss_scale=None):
        betas = batch.pop(BETA_COLUMN, None)  # not a model input: take it out before the forward pass
        if betas is None:
            raise ValueError("CogPO needs a 'beta' value in every row (cookbook.data.formats, format 'cogpo'); "
                             "for one beta for all pairs, train plain DPO")
        self._pair_betas = torch.as_tensor(betas, dtype=torch.float32).reshape(-1)
        try:
            return super().get_batch_loss_metrics(model, batch, train_eval=train_eval,
                                                  pair_loss_scale=pair_loss_scale)
        finally:
            self._pair_betas = None

    def dpo_loss(self, chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps,
                 loss_type="sigmoid", model_output=None):
        if self._pair_betas is None:
            return super().dpo_loss(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps,
                                    loss_type, model_output)
        if loss_type in ("aot", "aot_unpaired"):  # these sort the pairs: a pair's beta would land elsewhere
            raise ValueError(f"CogPO cannot use loss_type {loss_type!r}")
        if self._pair_betas.shape[0] != chosen_logps.shape[0]:
            raise ValueError(f"{self._pair_betas.shape[0]} betas for {chosen_logps.shape[0]} pairs in the batch")
        # ms-swift's dpo_loss uses self.beta only elementwise with per-pair tensors (all loss
        # types but the two above): a (pairs,) tensor in its place gives each pair its own beta.
        scalar = self.beta
        self.beta = self._pair_betas.to(device=self.accelerator.device)
        try:
            return super().dpo_loss(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps,
                                    loss_type, model_output)
        finally:
            self.beta = scalar
