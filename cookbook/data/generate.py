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

import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Literal

from cookbook.data.prompts import load_template
from cookbook.data.records import CoTRecord, record_from_reply, split_response
from cookbook.data.selection import in_band

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


def rewrite_kinds(records: Iterable[CoTRecord], rv_band: tuple[int, int]) -> list[tuple[CoTRecord, Rewrite]]:
    """The scored records outside the RV band, each with the rewrite that brings it in.

    Only chains known to be right are worth rewriting: a rewrite keeps the answer.
    """
    return [(r, "long2short" if r.rv > rv_band[1] else "short2long") for r in records
            if r.correct and r.rv is not None and not in_band(r.rv, tuple(rv_band))]


_RECHECK = re.compile(r"^Wait, let me double-check.*?^Yes, [^\n]*\n?", re.DOTALL | re.MULTILINE)
_TERSE_LINE = re.compile(r"^(\d+)([+-])(\d+): [^\n]* -> \d+\.$", re.MULTILINE)


class RuleBasedToyRewriter:
    """RULE-BASED stand-in for the teacher's long2short / short2long rewrites, for the tiny
    world's arithmetic chains only (not an LLM; a real teacher gets the prompts in
    ``cookbook/data/prompts/cot_long2short.yaml`` and ``cot_short2long.yaml``).

    The toy teacher rambles in one known way (the question re-read, the last change
    worked out twice) and is terse in one known way (a change's column sums on one line),
    so the rewrites are text edits: long2short deletes the re-read and the re-check;
    short2long writes each terse line out column by column, the toy teacher's normal
    chain. The answer is kept; the rewritten chain is verified and scored again.
    """

    name = "rule-based-toy (not an LLM)"

    def reply(self, record: CoTRecord, kind: Rewrite) -> str:
        """The rewritten reply, in the thinking format a teacher would send."""
        _check_kind(kind)
        if kind == "long2short":
            chain = _RECHECK.sub("", record.reasoning.replace("Let me read the question again. ", "", 1))
        else:
            from cookbook.toy.problems import column_arithmetic

            def columns(m: re.Match) -> str:
                return "\n".join(column_arithmetic(int(m[1]), m[2], int(m[3])))

            chain, changes = _TERSE_LINE.subn(columns, record.reasoning.replace("Quickly: ", "", 1))
            if changes > 1:  # the normal chain's summary line: "23+45-17=51."
                chain += f"\n{chain.strip().splitlines()[0].rstrip(':')}={record.final_answer}."
        return f"<think>\n{chain.strip()}\n</think>\n\n{record.answer}"
