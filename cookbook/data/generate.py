"""Ask a teacher for chains of thought and for rewrites of chains that miss the mark.

The teacher is any ``chat`` callable: it takes chat messages and returns the reply, either
as text or as an object / mapping with ``content`` and, for reasoning models,
``reasoning_content`` or ``reasoning`` (a stub in tests, a local server). The request
builders are public too, so a notebook sends them in batches through cookbook.teacher's
client and turns its results into records with ``records_from_replies``.

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
    """(content, reasoning) of a reply given as text, a mapping or an object.

    The reasoning may sit in ``reasoning_content`` (R1 APIs, swift deploy) or ``reasoning``
    (newer vLLM; cookbook.teacher's ``Result``).
    """
    if isinstance(reply, str):
        return reply, None
    get = reply.get if isinstance(reply, dict) else (lambda k: getattr(reply, k, None))
    return get("content") or "", get("reasoning_content") or get("reasoning")


def reply_problem(reply: Any) -> str | None:
    """Why a reply cannot become a record ("failed", "cut off", "empty"), or None if it can."""
    if isinstance(reply, str):
        return None if reply.strip() else "empty"
    get = reply.get if isinstance(reply, dict) else (lambda k: getattr(reply, k, None))
    if get("status") not in (None, "ok"):
        return "failed"
    if get("finish_reason") == "length":
        return "cut off"  # a chain stopped by max_tokens has no final answer to learn from
    content, reasoning = reply_parts(reply)
    return None if content.strip() or (reasoning or "").strip() else "empty"


def cot_messages(question: str, template: str = "cot_generation", include_system: bool = True) -> list[dict]:
    """The request for one chain of thought (R1 system prompt + the tutorial's user prompt)."""
    return load_template(template).messages(include_system=include_system, question=question)


def cot_requests(items: Iterable[dict], samples: int = 1, template: str = "cot_generation",
                 include_system: bool = True) -> list[list[dict]]:
    """The requests for ``samples`` chains per item, item by item (the order replies must keep)."""
    return [cot_messages(item["question"], template, include_system) for item in items for _ in range(samples)]


def records_from_replies(items: Iterable[dict], replies: Iterable[Any], *, samples: int = 1,
                         source: str = "teacher") -> tuple[list[CoTRecord], dict[str, int]]:
    """Records from the replies to ``cot_requests(items, samples)``, and counts.

    items are {id, question[, ground_truth]}. A failed, cut-off or empty reply makes no
    record; it is counted under its reason, so the notebook can show what was lost.
    """
    items, replies = list(items), list(replies)
    if len(replies) != len(items) * samples:
        raise ValueError(f"{len(replies)} replies for {len(items)} questions x {samples} samples")
    records, counts = [], {"records": 0, "failed": 0, "cut off": 0, "empty": 0}
    for n, reply in enumerate(replies):
        item, k = items[n // samples], n % samples
        problem = reply_problem(reply)
        if problem:
            counts[problem] += 1
            continue
        content, reasoning = reply_parts(reply)
        rid = str(item["id"]) if samples == 1 else f"{item['id']}#{k}"
        records.append(record_from_reply(item["question"], content, id=rid, reasoning_content=reasoning,
                                         ground_truth=item.get("ground_truth"), source=source))
    counts["records"] = len(records)
    return records, counts


def generate_cots(items: Iterable[dict], chat: Chat, *, template: str = "cot_generation",
                  samples: int = 1, source: str = "teacher") -> tuple[list[CoTRecord], dict[str, int]]:
    """``samples`` CoTs per question from ``chat``, one request at a time; records and counts.

    Sequential on purpose: it is the reference path for tests and the tiny profile. For a
    remote teacher, send ``cot_requests(items, samples)`` through cookbook.teacher's
    ``generate`` (concurrent, cached, retried) and pass its results to
    ``records_from_replies``.
    """
    items = list(items)
    replies = [chat(m) for m in cot_requests(items, samples, template)]
    return records_from_replies(items, replies, samples=samples, source=source)


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


def rewrite(records: Iterable[CoTRecord], chat: Chat, kind: Rewrite) -> tuple[list[CoTRecord], dict[str, int]]:
    """Rewrite each record's chain with the teacher (sequentially); rewrites and counts.

    A failed, cut-off or empty reply gives no rewrite and is counted under its reason.
    """
    out, counts = [], {"rewritten": 0, "failed": 0, "cut off": 0, "empty": 0}
    for r in records:
        reply = chat(rewrite_messages(r, kind))
        problem = reply_problem(reply)
        if problem:
            counts[problem] += 1
        else:
            out.append(apply_rewrite(r, reply, kind))
    counts["rewritten"] = len(out)
    return out, counts
