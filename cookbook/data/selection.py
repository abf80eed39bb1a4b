"""Selection: keep the chains worth distilling, and count why every other one was dropped.

``select`` applies, in this order, the checks a DistillQwen-ThoughtX/Y style filter uses:
correctness, reasoning verbosity (RV) in a band, cognitive difficulty (CD) matched to the
student, a length budget, and at most N chains per (normalised) question. Each dropped
record is counted once, under the first check it fails, so
``len(kept) + sum(dropped.values()) == len(input)`` always holds and a notebook can show
the counts after each step. ``select`` reads its input once, as it comes: it keeps only the
kept records and a count per reason, so a generator of a million chains (``iter_cots``)
is selected without ever being a list. ``mix`` draws fixed quotas per group (e.g. per CD level).

The published ThoughtX example keeps correct chains with 3 <= RV <= 5 and CD == 4:
``select(records, **THOUGHTX_EXAMPLE)``.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from cookbook.data.records import CoTRecord

Band = int | tuple[int, int]  # one level, or an inclusive (low, high) range
THOUGHTX_EXAMPLE = {"correct": "required", "rv": (3, 5), "cd": 4}


def normalize_question(text: str) -> str:
    """The question as de-duplication sees it: Unicode-normalised, case-folded, spaces collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"\s+", " ", text).strip()
    return text.rstrip(" .?!")


@dataclass
class Selection:
    """What a selection step kept, and how many records it dropped for each reason."""

    kept: list[CoTRecord]
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> count, in order of first occurrence

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1

    @property
    def counts(self) -> dict[str, int]:
        """{"input", "kept", <reason>: n, ...}: the table a notebook shows after a step."""
        return {"input": len(self.kept) + sum(self.dropped.values()), "kept": len(self.kept), **self.dropped}

    def __repr__(self) -> str:
        return f"Selection({', '.join(f'{k}={v}' for k, v in self.counts.items())})"


def in_band(value: int | None, band: Band) -> bool:
    """Whether a judge's score lies in a band (a [low, high] range or one level); an unknown score never does."""
    if value is None:
        return False
    if isinstance(band, tuple):
        low, high = band
        return low <= value <= high
    return value == band


def _band_text(band: Band) -> str:
    return f"{band[0]}-{band[1]}" if isinstance(band, tuple) else str(band)


def select(records: Iterable[CoTRecord], *, correct: Literal["required", "not_wrong", "any"] = "required",
           rv: Band | None = None, cd: Band | None = None, max_chars: int | None = None,
           max_tokens: int | None = None, count_tokens: Callable[[str], int] | None = None,
           max_per_question: int | None = 1) -> Selection:
    """Filter records; see the module docstring for the order of the checks.

    correct: "required" keeps only chains known to be correct (verified, else judged);
        "not_wrong" also keeps chains nobody checked; "any" skips the check.
    rv, cd: keep a level or an inclusive (low, high) band; a record without the score is
        dropped as "rv unknown" / "cd unknown".
    max_chars, max_tokens: budget on the training response (``record.response``);
        ``max_tokens`` needs ``count_tokens`` (e.g. ``lambda s: len(tok(s).input_ids)``).
    max_per_question: chains kept per normalised question (None: no de-duplication).
        Earlier records win, so order the input by preference first.
    """
    if correct not in ("required", "not_wrong", "any"):
        raise ValueError(f"correct must be 'required', 'not_wrong' or 'any', got {correct!r}")
    if max_tokens is not None and count_tokens is None:
        raise ValueError("max_tokens needs count_tokens, a function that counts a text's tokens")
    if max_per_question is not None and max_per_question < 1:
        raise ValueError("max_per_question must be at least 1, or None")
    sel = Selection(kept=[])
    per_question: Counter = Counter()  # kept chains per normalised question: the only state besides the kept
    for r in records:
        reason = None
        if correct != "any" and r.correct is False:
            reason = "wrong answer"
        elif correct == "required" and r.correct is None:
            reason = "correctness unknown"
        elif rv is not None and r.rv is None:
            reason = "rv unknown"
        elif rv is not None and not in_band(r.rv, rv):
            reason = f"rv outside {_band_text(rv)}"
        elif cd is not None and r.cd is None:
            reason = "cd unknown"
        elif cd is not None and not in_band(r.cd, cd):
            reason = f"cd outside {_band_text(cd)}"
        elif max_chars is not None and len(r.response) > max_chars:
            reason = f"longer than {max_chars} characters"
        elif max_tokens is not None and count_tokens(r.response) > max_tokens:
            reason = f"longer than {max_tokens} tokens"
        elif max_per_question is not None and per_question[normalize_question(r.question)] >= max_per_question:
            reason = "duplicate question"
        if reason is None:
            per_question[normalize_question(r.question)] += 1
            sel.kept.append(r)
        else:
            sel.drop(reason)
    return sel


def dedup(records: Iterable[CoTRecord], max_per_question: int = 1) -> Selection:
    """Only the de-duplication step of ``select``."""
    return select(records, correct="any", max_per_question=max_per_question)


def mix(records: Iterable[CoTRecord], by: str | Callable[[CoTRecord], Hashable],
        quotas: dict[Hashable, int], seed: int = 0) -> Selection:
    """At most ``quotas[group]`` records per group, drawn at random (seeded).

    ``by`` is a record attribute ("cd", "rv", "source") or a function. Records whose group
    has no quota are dropped as "not in the mix"; the rest beyond a quota as "over quota".
    The kept records keep their input order.
    """
    key = (lambda r: getattr(r, by)) if isinstance(by, str) else by
    records = list(records)
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        groups[key(r)].append(i)
    rng = random.Random(seed)
    chosen: set[int] = set()
    for g, idx in groups.items():
        if g in quotas:
            picked = idx if len(idx) <= quotas[g] else rng.sample(idx, quotas[g])
            chosen.update(picked)
    sel = Selection(kept=[])
    for i, r in enumerate(records):
        if i in chosen:
            sel.kept.append(r)
        else:
            sel.drop("not in the mix" if key(r) not in quotas else "over quota")
    return sel
