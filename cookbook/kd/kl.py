"""How far the student is from the teacher: the mean per-token KL on held-out responses.

Teacher-forced on the same ids, full vocabulary (no top-k here: this is the measurement
the top-k training approximates), averaged over the response tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from cookbook.kd.samples import Sample
from cookbook.kd.teacher_pass import _batches, response_logprobs
from cookbook.kd.vocab import check_vocabularies


@torch.inference_mode()
def teacher_student_kl(teacher_dir: str | Path, student_dir: str | Path, samples: Sequence[Sample],
                       max_batch_tokens: int = 16384) -> dict[str, float]:
    """{"forward_kl": mean KL(teacher || student), "reverse_kl": mean KL(student || teacher), "tokens": n}."""
    from cookbook.train.export import load

    vocab = check_vocabularies(teacher_dir, student_dir)
    teacher, _ = load(teacher_dir)
    student, _ = load(student_dir)
    fwd = rev = 0.0
    n = 0
    for batch in _batches(samples, max_batch_tokens):
        t_rows = {s.id: lp for s, lp in response_logprobs(teacher, batch, vocab, 1.0)}
        for s, s_lp in response_logprobs(student, batch, vocab, 1.0):
            t_lp = t_rows[s.id]
            fwd += float((t_lp.exp() * (t_lp - s_lp)).sum())
            rev += float((s_lp.exp() * (s_lp - t_lp)).sum())
            n += s_lp.shape[0]
    return {"forward_kl": fwd / max(1, n), "reverse_kl": rev / max(1, n), "tokens": n}
