"""Loaders for the public CoT formats users bring, all into ``CoTRecord``.

* OmniThought / OmniThought-0528: ``question`` plus a list ``reasoning`` of entries
  ``{Cognitive_Difficulty: {judge, level}, Reasoning_Verbosity: {judge, level},
  full_response}``; one record per entry, RV and CD taken from the levels, the judges'
  names kept in ``meta``. The rows ship no ground truth that we rely on; an optional
  ``answer`` / ``ground_truth`` field (our samples have one) is used when present.
* ModelScope MathR: ``messages`` with a user question and an assistant reply whose
  reasoning is in ``<think>..</think>``. The tutorial's "Please reason step by step..."
  suffix is removed from the question, since the writers add the prompt again.
* NuminaMath-CoT: ``problem``, ``solution`` (and ``messages``, ``source``); the ground
  truth is the solution's last ``\\boxed{}``, the reasoning is the solution itself.

Each loader takes a file (.jsonl, .json or .parquet), an iterable of dicts (e.g. ``datasets``
rows) or of located rows ``(file, row, dict)`` (cookbook.data.sources), reads it one row at
a time (``iter_cots`` yields records as it reads; ``load_cots`` is its list), and fails on
a malformed row with "<file>:<line>: <field>: <problem>". :func:`recipe_chains` streams the
recipe's ``data.chains``: ready-made chains from the hub or disk, no teacher needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from cookbook.data.answers import last_boxed
from cookbook.data.records import CoTRecord, split_response
from cookbook.data.sources import SourceError, iter_file_rows, iter_source_rows

Source = str | Path | Iterable[dict] | Iterable[tuple[str, int, dict]]
PROMPT_SUFFIX = "Please reason step by step, and put your final answer within \\boxed{}."


class FormatError(ValueError):
    """A source row does not have the shape its format promises."""


def iter_rows(source: Source) -> Iterator[tuple[str, int, dict]]:
    """(where, line, row) for each row: ``where`` names the file (or "rows"), ``line`` is 1-based."""
    if isinstance(source, (str, Path)):
        source = iter_file_rows(source)
    try:
        for i, item in enumerate(source, 1):
            if isinstance(item, tuple) and len(item) == 3:
                yield item  # already located: (file, row, dict)
            else:
                yield "rows", i, item
    except SourceError as e:
        raise FormatError(str(e)) from None


def _fail(where: str, line: int, field: str, problem: str):
    raise FormatError(f"{where}:{line}: {field}: {problem}")


def _text(row: dict, key: str, where: str, line: int, prefix: str = "") -> str:
    value = row.get(key) if isinstance(row, dict) else None
    if not isinstance(value, str) or not value.strip():
        _fail(where, line, prefix + key, "must be a non-empty string")
    return value


def _level(entry: dict, key: str, where: str, line: int, prefix: str) -> tuple[int | None, str | None]:
    """(level, judge) of an OmniThought score; a missing score is None, a malformed one fails."""
    score = entry.get(key)
    if score is None:
        return None, None
    if not isinstance(score, dict):
        _fail(where, line, f"{prefix}{key}", "must be an object {judge, level}")
    level = score.get("level")
    try:
        level = int(level)
    except (TypeError, ValueError):
        _fail(where, line, f"{prefix}{key}.level", f"must be an integer 0-9, got {level!r}")
    if not 0 <= level <= 9:
        _fail(where, line, f"{prefix}{key}.level", f"must be an integer 0-9, got {level}")
    return level, score.get("judge")


def _truth(row: dict) -> str | None:
    for key in ("ground_truth", "answer"):
        if row.get(key) not in (None, ""):
            return str(row[key])
    return None


def _row_id(row: dict, source: str, line: int) -> str:
    return str(row["id"]) if row.get("id") not in (None, "") else f"{source}-{line:06d}"


def iter_omnithought(source: Source) -> Iterator[CoTRecord]:
    for where, line, row in iter_rows(source):
        question = _text(row, "question", where, line)
        entries = row.get("reasoning")
        if not isinstance(entries, list) or not entries:
            _fail(where, line, "reasoning", "must be a non-empty list of {Cognitive_Difficulty, "
                  "Reasoning_Verbosity, full_response}")
        base = _row_id(row, "omnithought", line)
        for k, entry in enumerate(entries):
            prefix = f"reasoning[{k}]."
            if not isinstance(entry, dict):
                _fail(where, line, f"reasoning[{k}]", "must be an object")
            full = _text(entry, "full_response", where, line, prefix)
            cd, cd_judge = _level(entry, "Cognitive_Difficulty", where, line, prefix)
            rv, rv_judge = _level(entry, "Reasoning_Verbosity", where, line, prefix)
            reasoning, answer = split_response(full)
            meta = {"rv_judge": rv_judge, "cd_judge": cd_judge}
            if entry.get("teacher"):
                meta["teacher"] = entry["teacher"]
            yield CoTRecord(id=f"{base}/{k}", question=question, reasoning=reasoning, answer=answer,
                            ground_truth=_truth(row), source="omnithought", rv=rv, cd=cd, meta=meta)


def _strip_suffix(question: str) -> str:
    q = question.rstrip()
    return q[: -len(PROMPT_SUFFIX)].rstrip() if q.endswith(PROMPT_SUFFIX) else q


def iter_mathr(source: Source) -> Iterator[CoTRecord]:
    for where, line, row in iter_rows(source):
        messages = row.get("messages") if isinstance(row, dict) else None
        if not isinstance(messages, list) or not messages:
            _fail(where, line, "messages", "must be a non-empty list")
        user = [i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "user"]
        assistant = [i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "assistant"]
        if not user:
            _fail(where, line, "messages", "has no user message")
        if not assistant or assistant[-1] < user[-1]:
            _fail(where, line, "messages", "has no assistant reply after the last user message")
        question = _text(messages[user[-1]], "content", where, line, f"messages[{user[-1]}].")
        reply = _text(messages[assistant[-1]], "content", where, line, f"messages[{assistant[-1]}].")
        reasoning, answer = split_response(reply)
        yield CoTRecord(id=_row_id(row, "mathr", line), question=_strip_suffix(question),
                        reasoning=reasoning, answer=answer, ground_truth=_truth(row), source="mathr")


def iter_numina(source: Source) -> Iterator[CoTRecord]:
    for where, line, row in iter_rows(source):
        problem = _text(row, "problem", where, line)
        solution = _text(row, "solution", where, line)
        truth = last_boxed(solution)
        # The solution is a written chain that ends in its boxed answer; the answer text
        # repeats that box so the training response ends the way the student should.
        yield CoTRecord(id=_row_id(row, "numina", line), question=problem, reasoning=solution.strip(),
                        answer=f"The answer is \\boxed{{{truth}}}." if truth is not None else "",
                        ground_truth=truth, source="numina",
                        meta={"numina_source": row["source"]} if row.get("source") else {})


LOADERS: dict[str, Callable[[Source], Iterator[CoTRecord]]] = {
    "omnithought": iter_omnithought,
    "mathr": iter_mathr,
    "numina": iter_numina,
}


def iter_cots(source: Source, fmt: str) -> Iterator[CoTRecord]:
    """Records of ``source`` in format ``fmt`` (one of ``LOADERS``), read as they are consumed."""
    try:
        loader = LOADERS[fmt]
    except KeyError:
        raise ValueError(f"unknown CoT format {fmt!r}; choose one of {', '.join(LOADERS)}") from None
    return loader(source)


def load_cots(source: Source, fmt: str) -> list[CoTRecord]:
    """All records of ``source`` in format ``fmt``: the list of :func:`iter_cots`."""
    return list(iter_cots(source, fmt))


def load_omnithought(source: Source) -> list[CoTRecord]:
    return list(iter_omnithought(source))


def load_mathr(source: Source) -> list[CoTRecord]:
    return list(iter_mathr(source))


def load_numina(source: Source) -> list[CoTRecord]:
    return list(iter_numina(source))


def recipe_chains(data, recipe: str | None = None) -> Iterator[CoTRecord]:
    """The recipe's ``data.chains`` (ready-made, no teacher), streamed from the hub's snapshot or disk."""
    chains = data.chains
    if chains is None:
        raise ValueError("the recipe's data.chains is not set: e.g. {format: mathr, hub: modelscope/MathR, "
                         "subset: clean, split: train}")
    return iter_cots(iter_source_rows(chains, recipe), chains.format)
