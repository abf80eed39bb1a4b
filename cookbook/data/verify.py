"""Verification against ground truth, and preference pairs built from its verdicts.

``verify`` marks each record whose ground truth is known: its final answer (last
``\\boxed{}``, else ``#### N``, else the last number) equals the truth under math-verify.
Verified records feed SFT; for DPO and CogPO, ``preference_pairs`` pairs a verified chain
(chosen) with a wrong one for the same question (rejected).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from itertools import product

from cookbook.data.answers import is_correct
from cookbook.data.records import CoTRecord
from cookbook.data.selection import normalize_question

DEFAULT_BETA = 0.1  # DPO's usual beta; CogPO varies it per pair


def verify(records: Iterable[CoTRecord]) -> list[CoTRecord]:
    """Records with ``verified`` set; those without a ground truth keep ``verified=None``."""
    out = []
    for r in records:
        if r.ground_truth is None or str(r.ground_truth).strip() == "":
            out.append(replace(r, verified=None))
            continue
        # The answer text carries the committed answer; a reply without one is judged on
        # its reasoning (extract_answer then falls back to the last number written).
        text = r.answer if r.answer.strip() else r.reasoning
        out.append(replace(r, verified=is_correct(text, r.ground_truth)))
    return out


def verification_counts(records: Iterable[CoTRecord]) -> dict[str, int]:
    """{"correct", "wrong", "unverified"}: the numbers a notebook shows after ``verify``."""
    c = Counter({True: "correct", False: "wrong", None: "unverified"}[r.verified] for r in records)
    return {k: c.get(k, 0) for k in ("correct", "wrong", "unverified")}


@dataclass(frozen=True)
class PreferencePair:
    question: str
    chosen: CoTRecord
    rejected: CoTRecord
    beta: float = DEFAULT_BETA  # used by CogPO; plain DPO takes one beta for all pairs


BetaRule = Callable[[CoTRecord, CoTRecord], float]


def preference_pairs(records: Iterable[CoTRecord], *, max_pairs_per_question: int = 1,
                     beta: float | BetaRule = DEFAULT_BETA) -> tuple[list[PreferencePair], dict[str, int]]:
    """Pairs (chosen = a verified CoT, rejected = a wrong one) per question, and counts.

    Questions are matched on their normalised text. Within a question, chosen chains are
    taken in input order and paired with wrong chains in input order, up to
    ``max_pairs_per_question``. ``beta`` is one number, or a rule (chosen, rejected) ->
    beta for CogPO. Counts: pairs made, and questions that could not be paired because
    they had no verified chain, no wrong chain, or no verification at all.
    """
    if max_pairs_per_question < 1:
        raise ValueError("max_pairs_per_question must be at least 1")
    groups: dict[str, list[CoTRecord]] = defaultdict(list)
    for r in records:
        groups[normalize_question(r.question)].append(r)
    pairs: list[PreferencePair] = []
    counts = Counter()
    for group in groups.values():
        good = [r for r in group if r.verified is True]
        bad = [r for r in group if r.verified is False]
        if not good and not bad:
            counts["questions unverified"] += 1
        elif not good:
            counts["questions without a verified chain"] += 1
        elif not bad:
            counts["questions without a wrong chain"] += 1
        else:
            # Walk the (chosen, rejected) grid diagonal by diagonal, so that several pairs
            # for one question spread over different chains instead of reusing the first.
            grid = sorted(product(range(len(good)), range(len(bad))), key=lambda ij: (ij[0] + ij[1], ij[0]))
            made = 0
            for i, j in grid[:max_pairs_per_question]:
                chosen, rejected = good[i], bad[j]
                b = beta(chosen, rejected) if callable(beta) else beta
                if not b > 0:
                    raise ValueError(f"beta must be positive, got {b} for pair {chosen.id} / {rejected.id}")
                pairs.append(PreferencePair(group[0].question, chosen, rejected, float(b)))
                made += 1
            counts["questions paired"] += 1
            counts["pairs"] += made
    keys = ("pairs", "questions paired", "questions without a verified chain",
            "questions without a wrong chain", "questions unverified")
    return pairs, {k: counts.get(k, 0) for k in keys}
