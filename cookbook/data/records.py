"""One chain-of-thought record type for every source: teacher replies and public datasets.

Whatever format a CoT comes from (a teacher's reply, OmniThought, MathR, NuminaMath), it
becomes a ``CoTRecord``: the question, the reasoning, the answer text that follows the
reasoning, the ground truth when known, and the scores later stages add (verified, RV,
CD, judged correctness). Records are frozen; each stage returns new ones
(``dataclasses.replace``), so a notebook can keep the table of every step.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from cookbook.data.answers import extract_answer
from cookbook.io import read_jsonl, write_jsonl

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_ANSWER_TAG = re.compile(r"\s*</?answer>\s*")


@dataclass(frozen=True)
class CoTRecord:
    id: str
    question: str
    reasoning: str  # the chain itself, without <think> tags
    answer: str  # the text after the reasoning ("The answer is \\boxed{51}."); may be ""
    ground_truth: str | None = None
    source: str = ""
    verified: bool | None = None  # final answer == ground truth (math-verify); None: not checked
    rv: int | None = None  # Reasoning Verbosity 0-9
    cd: int | None = None  # Cognitive Difficulty 0-9
    judged_correct: int | None = None  # logical correctness 0/1 from a judge
    meta: dict = field(default_factory=dict, compare=False)  # provenance: judge name, rewrite kind, ...

    @property
    def response(self) -> str:
        """The assistant reply a student is trained on, in the R1 / Qwen3 thinking format."""
        if self.reasoning and self.answer:
            return f"<think>\n{self.reasoning}\n</think>\n\n{self.answer}"
        return self.answer or self.reasoning

    @property
    def final_answer(self) -> str | None:
        """The answer the record commits to: from the answer text, else from the reasoning."""
        return extract_answer(self.answer) if self.answer.strip() else extract_answer(self.reasoning)

    @property
    def correct(self) -> bool | None:
        """Best knowledge of correctness: verification if done, else a judge's verdict."""
        if self.verified is not None:
            return self.verified
        return None if self.judged_correct is None else bool(self.judged_correct)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict) -> CoTRecord:
        known = {f.name for f in fields(cls)}
        unknown = set(row) - known
        if unknown:
            raise ValueError(f"unknown CoTRecord field(s): {', '.join(sorted(unknown))}")
        return cls(**row)


def split_response(text: str, reasoning_content: str | None = None) -> tuple[str, str]:
    """(reasoning, answer text) of a teacher reply.

    Handles the shapes teachers produce: DeepSeek-R1 through an API (the reasoning arrives
    apart, in ``reasoning_content``); ``<think>..</think>`` then the answer; a reply whose
    opening ``<think>`` was put in the chat template so only ``</think>`` appears; and the
    R1 system prompt's ``<answer>..</answer>``. A reply with no tags at all is all reasoning.
    """
    text = text or ""
    if reasoning_content:
        reasoning, rest = reasoning_content, _THINK.sub("", text)
    elif "</think>" in text:
        head, _, rest = text.rpartition("</think>")
        reasoning = head.split("<think>", 1)[-1]
    else:
        text = text.replace("<think>", "", 1) if text.lstrip().startswith("<think>") else text
        if _ANSWER.search(text):
            start = text.find("<answer>")
            return text[:start].strip(), _without_answer_tags(text[start:])
        return text.strip(), ""  # no tags (or a chain cut off while thinking): all reasoning
    return reasoning.strip(), _without_answer_tags(rest)


def _without_answer_tags(text: str) -> str:
    # The tags go, all the text stays: R1 sometimes writes a bare number inside <answer> and
    # the boxed sentence after it, and the SFT target must keep the \boxed{} the student
    # learns to write (keeping only the tags' content lost it).
    return _ANSWER_TAG.sub("\n", text).strip()


def record_from_reply(question: str, reply: str, *, id: str, reasoning_content: str | None = None,
                      ground_truth: str | int | float | None = None, source: str = "teacher",
                      meta: dict | None = None) -> CoTRecord:
    """A record from one teacher reply (the reply's text and, for R1 APIs, its reasoning_content)."""
    reasoning, answer = split_response(reply, reasoning_content)
    return CoTRecord(id=id, question=question, reasoning=reasoning, answer=answer,
                     ground_truth=None if ground_truth is None else str(ground_truth),
                     source=source, meta=dict(meta or {}))


def save_records(path: str | Path, records: Iterable[CoTRecord]) -> Path:
    """Records as JSON lines, written atomically (a stage's output in the run directory)."""
    return write_jsonl(path, (r.to_dict() for r in records))


def load_records(path: str | Path) -> list[CoTRecord]:
    out = []
    for i, row in enumerate(read_jsonl(path), 1):
        try:
            out.append(CoTRecord.from_dict(row))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: record {i}: {e}") from None
    return out
