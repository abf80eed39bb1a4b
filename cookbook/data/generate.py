"""Ask a teacher for chains of thought and for rewrites of chains that miss the mark.

The teacher is any ``chat`` callable: it takes chat messages and returns the reply, either
as text or as an object / mapping with ``content`` and, for R1-style APIs,
``reasoning_content`` (cookbook.teacher's client, a local server, or a stub in tests).
The request builders are public too, so a notebook can send them in batches through
the teacher client and turn the replies into records with ``record_from_reply``.

Rewrites (DistilQwen2.5-R1): ``long2short`` simplifies a too-verbose chain, ``short2long``
extends a too-brief one. Both keep the answer; the rewritten record carries
``verified=None`` because it must be verified again, and ``meta["rewritten_from"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Literal

from cookbook.data.prompts import load_template
from cookbook.data.records import CoTRecord, record_from_reply, split_response

Chat = Callable[[list[dict]], Any]  # messages -> reply text, or {content, reasoning_content}
Rewrite = Literal["long2short", "short2long"]


def reply_parts(reply: Any) -> tuple[str, str | None]:
    """(content, reasoning_content) of a reply given as text, a mapping or an object."""
    if isinstance(reply, str):
        return reply, None
    if isinstance(reply, dict):
        return reply.get("content") or "", reply.get("reasoning_content")
    return getattr(reply, "content", None) or "", getattr(reply, "reasoning_content", None)


def cot_messages(question: str, template: str = "cot_generation", include_system: bool = True) -> list[dict]:
    """The request for one chain of thought (R1 system prompt + the tutorial's user prompt)."""
    return load_template(template).messages(include_system=include_system, question=question)


def generate_cots(items: Iterable[dict], chat: Chat, *, template: str = "cot_generation",
                  samples: int = 1, source: str = "teacher") -> list[CoTRecord]:
    """One or more CoTs per question, sequentially; items are {id, question[, ground_truth]}.

    Sequential on purpose: it is the reference path for tests and the tiny profile. For
    a remote teacher, send ``cot_messages`` through the teacher client's batch API.
    """
    out = []
    for item in items:
        messages = cot_messages(item["question"], template)
        for k in range(samples):
            content, reasoning = reply_parts(chat(messages))
            rid = str(item["id"]) if samples == 1 else f"{item['id']}#{k}"
            out.append(record_from_reply(item["question"], content, id=rid, reasoning_content=reasoning,
                                         ground_truth=item.get("ground_truth"), source=source))
    return out


def _check_kind(kind: str) -> None:
    if kind not in ("long2short", "short2long"):
        raise ValueError(f"unknown rewrite {kind!r}; choose long2short or short2long")


def rewrite_messages(record: CoTRecord, kind: Rewrite) -> list[dict]:
    """The request to shorten (long2short) or extend (short2long) a record's chain."""
    _check_kind(kind)
    answer = record.final_answer
    return load_template(f"cot_{kind}").messages(question=record.question, reasoning=record.reasoning,
                                                 answer=answer if answer is not None else "(none given)")


def apply_rewrite(record: CoTRecord, reply: Any, kind: Rewrite) -> CoTRecord:
    """The record with its chain replaced by the rewrite; scores reset, to be verified again."""
    _check_kind(kind)
    content, reasoning_content = reply_parts(reply)
    reasoning, answer = split_response(content, reasoning_content)
    return replace(record, id=f"{record.id}~{kind}", reasoning=reasoning, answer=answer,
                   verified=None, rv=None, cd=None, judged_correct=None,
                   meta={**record.meta, "rewritten_from": record.id, "rewrite": kind})


def rewrite(records: Iterable[CoTRecord], chat: Chat, kind: Rewrite) -> list[CoTRecord]:
    """Rewrite each record's chain with the teacher (sequentially)."""
    return [apply_rewrite(r, chat(rewrite_messages(r, kind)), kind) for r in records]
