"""Which instructions a student learns from: model fitting difficulty (MFD), then task and language balance.

DistilQwen2's recipe, after the teacher has answered every instruction:

1. **MFD.** The teacher scores, on one scale, its own answer and the student's answer to
   each instruction. The gap is the instruction's value for distillation: where the student
   already answers as well as the teacher there is nothing to learn, and where the teacher
   does no better there is nothing to teach. We implement the gap as **teacher minus
   student** (the teacher's lead), keep instructions whose gap is at least a threshold, and
   drop the rest. The article's wording says "student minus teacher", but it keeps the
   instructions the student finds hard to fit, which is the teacher's lead; with its sign
   taken literally, the rule would keep the instructions the student already does best.
2. **Task-type balance.** No task type may crowd out the others: each is cut to at most
   ``cap`` instructions (by default the count of the rarest type), keeping the ones with
   the largest gap.
3. **Language balance.** Chinese and English in about equal amounts. The language there is
   too little of is not cut down to: the teacher writes the missing instructions, from
   ones of the other language (:func:`translation_requests`), so nothing learnable is lost.

The scores come from a judge with ``score(instruction, answer) -> int | None`` (0-9): the
teacher with :func:`judge_messages` in the workshop and full profiles; in the tiny profile
a labelled, verifiable stand-in (IFEval's checkers), since the toy teacher cannot judge.
An instruction whose either score is missing (an unparseable reply) gets no gap and is
dropped, and counted.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from cookbook.data.instruction_sources import InstructionRecord
from cookbook.data.prompts import load_template

LANGUAGE_NAMES = {"en": "English", "zh": "Chinese (简体中文)"}


def judge_messages(instruction: str, answer: str) -> list[dict]:
    """The request that scores one answer to one instruction, 0-9 (the MFD judge)."""
    return load_template("judge_answer_quality").messages(instruction=instruction, answer=answer)


class IFEvalCheckerJudge:
    """VERIFIABLE stand-in for the MFD judge. NOT an LLM judge.

    For instructions that carry IFEval constraints (``meta["instruction_id_list"]`` and
    ``meta["kwargs"]``, as the ``ifeval`` loader keeps them): the score is 9 times the share
    of the constraints the answer meets, by evalscope's own strict IFEval checkers, rounded.
    It judges form only, never content: it is the tiny profile's judge, where the toy
    teacher cannot judge and every toy instruction is checkable. An instruction without
    constraints gets no score (None).
    """

    name = "ifeval-checkers"

    def score(self, record: InstructionRecord, answer: str) -> int | None:
        from evalscope.benchmarks.ifeval.utils import InputExample, test_instruction_following_strict

        ids, kwargs = record.meta.get("instruction_id_list"), record.meta.get("kwargs")
        if not ids:
            return None
        example = InputExample(key=0, prompt=record.instruction, instruction_id_list=list(ids),
                               kwargs=[dict(k) for k in kwargs])
        followed = test_instruction_following_strict(example, answer).follow_instruction_list
        return round(9 * sum(followed) / len(followed))


def mfd_gap(teacher_score: float | None, student_score: float | None) -> float | None:
    """The teacher's lead over the student on one instruction; None when either score is missing."""
    if teacher_score is None or student_score is None:
        return None
    return float(teacher_score) - float(student_score)


def with_mfd(records: Iterable[InstructionRecord], teacher_scores: Sequence[float | None],
             student_scores: Sequence[float | None]) -> list[InstructionRecord]:
    """Records with ``meta`` holding teacher_score, student_score and mfd (the gap), in order."""
    records = list(records)
    if not len(records) == len(teacher_scores) == len(student_scores):
        raise ValueError(f"{len(records)} records, {len(teacher_scores)} teacher scores and "
                         f"{len(student_scores)} student scores: one of each per instruction")
    return [replace(r, meta={**r.meta, "teacher_score": t, "student_score": s, "mfd": mfd_gap(t, s)})
            for r, t, s in zip(records, teacher_scores, student_scores)]


@dataclass(frozen=True)
class Selection:
    kept: list[InstructionRecord]
    dropped: list[InstructionRecord]
    unscored: int  # dropped because a score was missing

    def counts(self) -> dict[str, int]:
        return {"kept": len(self.kept), "dropped": len(self.dropped), "unscored": self.unscored}


def select_by_mfd(records: Iterable[InstructionRecord], min_gap: float) -> Selection:
    """Keep the instructions whose MFD gap (``meta["mfd"]``, see :func:`with_mfd`) is at least ``min_gap``."""
    kept, dropped, unscored = [], [], 0
    for r in records:
        if "mfd" not in r.meta:
            raise ValueError(f"instruction {r.id} has no MFD score: score the answers first (with_mfd)")
        gap = r.meta["mfd"]
        if gap is None:
            unscored += 1
        (kept if gap is not None and gap >= min_gap else dropped).append(r)
    return Selection(kept, dropped, unscored)


def random_subset(records: Sequence, size: int, seed: int) -> list:
    """``size`` records drawn uniformly, in their original order: the control MFD is measured against."""
    if size > len(records):
        raise ValueError(f"a random subset of {size} from {len(records)} records")
    picked = set(random.Random(seed).sample(range(len(records)), size))
    return [r for i, r in enumerate(records) if i in picked]


def _gap(r: InstructionRecord) -> float:
    gap = r.meta.get("mfd")
    return float("-inf") if gap is None else gap


def balance_task_types(records: Iterable[InstructionRecord], cap: int | None = None,
                       task_type: Callable[[InstructionRecord], str | None] = lambda r: r.task_type
                       ) -> list[InstructionRecord]:
    """At most ``cap`` instructions per task type (default: the rarest type's count), largest gap first.

    Records without a task type form their own group ("unknown"). The kept records keep
    their original order.
    """
    records = list(records)
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        groups.setdefault(task_type(r) or "unknown", []).append(i)
    if not groups:
        return []
    cap = min(len(g) for g in groups.values()) if cap is None else cap
    keep = set()
    for members in groups.values():
        # sorted is stable: among equal gaps the earlier record wins, so the result is deterministic
        keep.update(sorted(members, key=lambda i: -_gap(records[i]))[:cap])
    return [r for i, r in enumerate(records) if i in keep]


def counts(records: Iterable[InstructionRecord], key: str) -> dict[str, int]:
    """Records per task type or per language (``key`` is "task_type" or "lang"), largest first."""
    return dict(Counter(getattr(r, key) or "unknown" for r in records).most_common())


def language_shortfall(records: Iterable[InstructionRecord], languages: Sequence[str] = ("en", "zh")
                       ) -> dict[str, int]:
    """For each of ``languages``: how many instructions it lacks to match the most common of them."""
    have = Counter(r.lang for r in records)
    most = max((have[lang] for lang in languages), default=0)
    return {lang: most - have[lang] for lang in languages}


def translation_requests(records: Sequence[InstructionRecord], languages: Sequence[str] = ("en", "zh"),
                         seed: int = 0) -> list[tuple[InstructionRecord, str, list[dict]]]:
    """(source record, target language, request) for each instruction the short languages lack.

    Sources are drawn from the other languages, largest MFD gap first (ties broken by a
    seeded shuffle), each used once: the teacher rewrites them (``instruction_translation``).
    """
    short = {lang: n for lang, n in language_shortfall(records, languages).items() if n > 0}
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    order.sort(key=lambda i: -_gap(records[i]))
    used, out = set(), []
    for lang, need in short.items():
        for i in order:
            if need == 0:
                break
            if i in used or records[i].lang == lang or records[i].lang not in languages:
                continue
            used.add(i)
            need -= 1
            request = load_template("instruction_translation").messages(
                instruction=records[i].instruction, language=LANGUAGE_NAMES.get(lang, lang))
            out.append((records[i], lang, request))
    return out
