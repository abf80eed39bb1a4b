"""Scores for each chain: Reasoning Verbosity (RV), Cognitive Difficulty (CD), correctness.

Two judges share one interface (``name`` and ``score(record) -> Scores``):

* ``LLMJudge`` asks a teacher model with the judge templates in ``prompts/`` and parses
  the integer from its reply. This is the OmniThought / ThoughtX way. For a remote
  teacher, ``judge_requests`` + cookbook.teacher's batch ``generate`` +
  ``apply_judgements`` do the same work concurrently.
* ``RuleBasedToyJudge`` is NOT an LLM judge. It is arithmetic on the text, written for
  the tiny profile's toy word problems, where no judge model is available offline. It
  knows nothing about other kinds of problems: do not use its scores outside the toy world.

``score_records`` runs a judge over records and notes the judge's name in each record's
``meta["judge"]``, so a table always says where a score came from.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Protocol

from cookbook.data.generate import Chat, reply_parts
from cookbook.data.prompts import load_template
from cookbook.data.records import CoTRecord

# "Score: 7", "**Score:** 7", "score = 7/9", "SCORE: 7."
_SCORE_LABEL = re.compile(r"score\**\s*[:=]\s*\**\s*(-?\d+)(?!\d|\.\d)", re.IGNORECASE)  # 7.5 is no score
_BOXED_INT = re.compile(r"\\boxed\{\s*(-?\d+)\s*\}")
_BARE_INT = re.compile(r"^[^\w-]*(-?\d+)(?:\s*/\s*\d+)?[^\w]*$")


def parse_score(reply: str, low: int = 0, high: int = 9) -> int | None:
    """The integer score in a judge's reply, or None when there is none or it is out of range.

    Looks for, in order: the last "Score: N" label, the last \\boxed{N}, a reply that is only
    a number. Stray numbers in a justification ("step 3 is wrong") are never taken.
    """
    if not isinstance(reply, str):
        return None
    for pattern in (_SCORE_LABEL, _BOXED_INT):
        found = pattern.findall(reply)
        if found:
            value = int(found[-1])
            return value if low <= value <= high else None
    m = _BARE_INT.match(reply.strip())
    if m:
        value = int(m.group(1))
        return value if low <= value <= high else None
    return None


@dataclass(frozen=True)
class Scores:
    rv: int | None
    cd: int | None
    correct: int | None  # logical correctness, 0 or 1


KINDS = ("rv", "cd", "correct")


class Judge(Protocol):
    name: str

    def score(self, record: CoTRecord, kinds: tuple[str, ...] = KINDS) -> Scores: ...


def judge_messages(kind: str, record: CoTRecord) -> list[dict]:
    """The request for one judgement: kind is "rv", "cd" or "correct"."""
    template = load_template(_TEMPLATES[kind])
    values = {"question": record.question, "reasoning": record.reasoning}
    if "answer" in template.placeholders:
        final = record.final_answer
        values["answer"] = final if final is not None else "(none given)"
    return template.messages(**values)


_TEMPLATES = {"rv": "judge_reasoning_verbosity", "cd": "judge_cognitive_difficulty",
              "correct": "judge_logical_correctness"}


class LLMJudge:
    """A teacher LLM as judge: one request per score, replies parsed with ``parse_score``.

    An unparseable reply gives None for that score (selection then drops the record as
    "rv unknown" etc.), never a guessed number.
    """

    def __init__(self, chat: Chat, name: str = "llm"):
        self.chat, self.name = chat, f"llm:{name}"

    def score(self, record: CoTRecord, kinds: tuple[str, ...] = KINDS) -> Scores:
        """Ask only for the ``kinds`` wanted; the others come back None."""
        unknown = set(kinds) - set(_TEMPLATES)
        if unknown:
            raise ValueError(f"unknown judgement(s) {sorted(unknown)}; choose from {list(KINDS)}")
        out = {}
        for kind in kinds:
            low, high = load_template(_TEMPLATES[kind]).score_range
            content, _ = reply_parts(self.chat(judge_messages(kind, record)))
            out[kind] = parse_score(content, low, high)
        return Scores(rv=out.get("rv"), cd=out.get("cd"), correct=out.get("correct"))


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class RuleBasedToyJudge:
    """RULE-BASED stand-in for an LLM judge, for the tiny profile's arithmetic problems only.

    The toy question states a starting amount and one to three changes, so the work it
    needs is countable: ``operations`` = numbers in the question - 1, each done column by
    column over ``digits`` columns.

    * RV compares the chain's length with the length that work needs: about
      ``CHARS_PER_LINE`` characters for each line of a column-by-column sum (a header, one
      line per column, a result). A chain of exactly that length scores ``RV_FIT`` (the
      middle of the 3-5 band a ThoughtX filter keeps); each doubling adds
      ``RV_PER_DOUBLING``, each halving subtracts it. A one-line "23 + 45 = 68." scores
      near 0; a chain padded with restarts and re-checks scores 7 or more.
    * CD is the number of column operations minus one (0-9): more and longer sums need
      more working memory. All toy problems are elementary school arithmetic, so this
      spreads them over the low end of the scale on purpose, to give CD selection
      something to select.
    * correctness is the verification verdict (1/0), None when the record was not verified.
    """

    name = "rule-based-toy (not an LLM)"
    CHARS_PER_LINE = 20
    RV_FIT = 4
    RV_PER_DOUBLING = 2

    @staticmethod
    def work(question: str) -> tuple[int, int]:
        """(operations, digits) the question needs."""
        numbers = _NUMBER.findall(question)
        operations = max(1, len(numbers) - 1)
        digits = max((len(n.replace(".", "")) for n in numbers), default=1)
        return operations, digits

    def needed_chars(self, question: str) -> int:
        operations, digits = self.work(question)
        return operations * (digits + 2) * self.CHARS_PER_LINE

    def rv(self, record: CoTRecord) -> int:
        length = len(record.reasoning.strip())
        if length == 0:
            return 0
        ratio = length / self.needed_chars(record.question)
        return max(0, min(9, round(self.RV_FIT + self.RV_PER_DOUBLING * math.log2(ratio))))

    def cd(self, record: CoTRecord) -> int:
        operations, digits = self.work(record.question)
        return max(0, min(9, operations * digits - 1))

    def score(self, record: CoTRecord, kinds: tuple[str, ...] = KINDS) -> Scores:
        # All three are cheap arithmetic; ``kinds`` is accepted for the common interface.
        correct = None if record.verified is None else int(record.verified)
        return Scores(rv=self.rv(record), cd=self.cd(record), correct=correct)


def score_records(records: Iterable[CoTRecord], judge: Judge, overwrite: bool = False) -> list[CoTRecord]:
    """Records with rv / cd / judged_correct filled in by ``judge``.

    Scores a record already has (OmniThought ships RV and CD) are kept unless
    ``overwrite``; a judge is only called for records that miss a score.
    """
    out = []
    for r in records:
        have = {"rv": r.rv, "cd": r.cd, "correct": r.judged_correct}
        kinds = KINDS if overwrite else tuple(k for k in KINDS if have[k] is None)
        if not kinds:
            out.append(r)
            continue
        s = judge.score(r, kinds)
        pick = (lambda old, new: new) if overwrite else (lambda old, new: old if old is not None else new)
        out.append(replace(r, rv=pick(r.rv, s.rv), cd=pick(r.cd, s.cd),
                           judged_correct=pick(r.judged_correct, s.correct),
                           meta={**r.meta, "judge": judge.name}))
    return out


def judge_requests(records: Iterable[CoTRecord], kinds: tuple[str, ...] = KINDS) -> list[list[dict]]:
    """Every judgement request, record by record and kind by kind (the order replies keep)."""
    return [judge_messages(kind, r) for r in records for kind in kinds]


def apply_judgements(records: Iterable[CoTRecord], replies: Iterable, kinds: tuple[str, ...] = KINDS,
                     judge_name: str = "llm", overwrite: bool = False) -> list[CoTRecord]:
    """Records scored from the replies to ``judge_requests(records, kinds)`` (batch path)."""
    records, replies = list(records), list(replies)
    if len(replies) != len(records) * len(kinds):
        raise ValueError(f"{len(replies)} replies for {len(records)} records x {len(kinds)} judgements")
    out = []
    for i, r in enumerate(records):
        got = {}
        for j, kind in enumerate(kinds):
            low, high = load_template(_TEMPLATES[kind]).score_range
            got[kind] = parse_score(reply_parts(replies[i * len(kinds) + j])[0], low, high)
        new = {"rv": r.rv, "cd": r.cd, "judged_correct": r.judged_correct}
        for kind, field in (("rv", "rv"), ("cd", "cd"), ("correct", "judged_correct")):
            if kind in got and (overwrite or new[field] is None):
                new[field] = got[kind]
        out.append(replace(r, **new, meta={**r.meta, "judge": f"llm:{judge_name}"}))
    return out
