"""Instruction data users bring, in the formats it comes in, all into ``InstructionRecord``.

The "System 1" path (DistilQwen2 / DistilQwen2.5) starts from seed instructions, with or
without an answer, and ends with the teacher's answers. Seeds come in three shapes:

* ``alpaca``: ``instruction``, an optional ``input`` (the material the instruction is about,
  appended after a blank line, as Alpaca's own prompt does) and an optional ``output``;
* ``sharegpt``: ``conversations``, a list of ``{from, value}`` turns; the first human turn
  is the instruction and the reply after it, if any, the response (one pair per row: a
  seed is one instruction, and later turns lean on earlier ones);
* ``distilqwen``: the ready-made DistilQwen_100k / DistilQwen_1M rows, ``instruction`` and
  ``output``: already the teacher's answers, SFT data as they stand;
* ``ifeval``: IFEval's ``input_data.jsonl`` rows (``key``, ``prompt``, ``instruction_id_list``,
  ``kwargs``), the tiny world's instruction splits among them: instructions whose
  constraints a checker verifies, kept in ``meta`` for :class:`IFEvalCheckerJudge
  <cookbook.data.instruction_selection.IFEvalCheckerJudge>`.

Every loader reads a file (.jsonl, .json, .parquet), rows, or located rows (as
cookbook.data.loaders does), one row at a time, and fails on a malformed row with
"<file>:<line>: <field>: <problem>". ``fields`` renames the columns for a dataset that uses
other names (``{"instruction": "prompt", "output": "completion"}``).

The language of each record is read from its text (:func:`language_of`): language
balancing needs it, and most seed sets do not say.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from cookbook.data.loaders import FormatError, Source, _fail, _text, iter_rows

__all__ = ["FormatError", "InstructionRecord", "INSTRUCTION_LOADERS", "iter_instructions", "language_of",
           "load_instructions"]

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTER = re.compile(r"[^\W\d_]")


@dataclass(frozen=True)
class InstructionRecord:
    id: str
    instruction: str
    response: str | None  # None: a seed without an answer (the teacher writes one)
    lang: str  # "zh", "en" or "other" (language_of)
    source: str  # the format it was read from, or the step that wrote it (expansion, ...)
    task_type: str | None = None
    meta: dict = field(default_factory=dict)


def language_of(text: str) -> str:
    """ "zh" when at least a fifth of the letters are Chinese characters, "en" for Latin script, else "other".

    A fifth, not a majority: Chinese instructions often quote English names, code or units,
    and one Chinese character carries as much as a short English word.
    """
    letters = _LETTER.findall(text)
    if not letters:
        return "other"
    cjk = sum(1 for ch in letters if _CJK.match(ch))
    if cjk >= len(letters) / 5:
        return "zh"
    return "en" if sum(1 for ch in letters if ch.isascii()) >= len(letters) / 2 else "other"


def _optional_text(row: dict, key: str, where: str, line: int, prefix: str = "") -> str | None:
    value = row.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        _fail(where, line, prefix + key, f"must be a string, got {type(value).__name__}")
    return value.strip() or None


def _record(where: str, line: int, row: dict, fmt: str, instruction: str, response: str | None) -> InstructionRecord:
    rid = str(row["id"]) if row.get("id") not in (None, "") else f"{fmt}-{line:06d}"
    return InstructionRecord(id=rid, instruction=instruction.strip(), response=response, source=fmt,
                             lang=language_of(instruction), task_type=row.get("task_type") or None)


def iter_alpaca(source: Source, fields: Mapping[str, str] | None = None) -> Iterator[InstructionRecord]:
    names = {"instruction": "instruction", "input": "input", "output": "output", **(fields or {})}
    for where, line, row in iter_rows(source):
        instruction = _text(row, names["instruction"], where, line)
        material = _optional_text(row, names["input"], where, line)
        if material:
            instruction = f"{instruction.strip()}\n\n{material}"
        yield _record(where, line, row, "alpaca", instruction, _optional_text(row, names["output"], where, line))


def iter_distilqwen(source: Source, fields: Mapping[str, str] | None = None) -> Iterator[InstructionRecord]:
    names = {"instruction": "instruction", "output": "output", **(fields or {})}
    for where, line, row in iter_rows(source):
        instruction = _text(row, names["instruction"], where, line)
        output = _text(row, names["output"], where, line)  # ready-made data: an answer is required
        yield _record(where, line, row, "distilqwen", instruction, output.strip())


_HUMAN = ("human", "user")
_ASSISTANT = ("gpt", "assistant", "chatgpt", "bing", "bard")


def iter_sharegpt(source: Source, fields: Mapping[str, str] | None = None) -> Iterator[InstructionRecord]:
    names = {"conversations": "conversations", "from": "from", "value": "value", **(fields or {})}
    key, speaker, said = names["conversations"], names["from"], names["value"]
    for where, line, row in iter_rows(source):
        turns = row.get(key) if isinstance(row, dict) else None
        if not isinstance(turns, list) or not turns:
            _fail(where, line, key, f"must be a non-empty list of {{{speaker}, {said}}} turns")
        for k, turn in enumerate(turns):
            if not isinstance(turn, dict) or not isinstance(turn.get(speaker), str):
                _fail(where, line, f"{key}[{k}].{speaker}", "must name who speaks (human, gpt, system)")
        human = next((k for k, t in enumerate(turns) if t[speaker].lower() in _HUMAN), None)
        if human is None:
            _fail(where, line, key, f"has no human turn ({speaker}: human)")
        instruction = _text(turns[human], said, where, line, f"{key}[{human}].")
        reply = None
        if human + 1 < len(turns) and turns[human + 1][speaker].lower() in _ASSISTANT:
            reply = _optional_text(turns[human + 1], said, where, line, f"{key}[{human + 1}].")
        yield _record(where, line, row, "sharegpt", instruction, reply)


def iter_ifeval(source: Source, fields: Mapping[str, str] | None = None) -> Iterator[InstructionRecord]:
    names = {"prompt": "prompt", "response": "response", **(fields or {})}
    for where, line, row in iter_rows(source):
        prompt = _text(row, names["prompt"], where, line)
        ids, kwargs = row.get("instruction_id_list"), row.get("kwargs")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            _fail(where, line, "instruction_id_list", "must be a non-empty list of checker ids")
        if not isinstance(kwargs, list) or len(kwargs) != len(ids) or not all(isinstance(k, dict) for k in kwargs):
            _fail(where, line, "kwargs", f"must be a list of {len(ids)} objects, one per instruction id")
        record = _record(where, line, {"id": row.get("key"), **row}, "ifeval", prompt,
                         _optional_text(row, names["response"], where, line))
        yield replace(record, lang=row.get("lang") or record.lang,
                      meta={"instruction_id_list": list(ids), "kwargs": [dict(k) for k in kwargs]})


INSTRUCTION_LOADERS: dict[str, Callable[..., Iterator[InstructionRecord]]] = {
    "alpaca": iter_alpaca,
    "sharegpt": iter_sharegpt,
    "distilqwen": iter_distilqwen,
    "ifeval": iter_ifeval,
}


def iter_instructions(source: Source, fmt: str, fields: Mapping[str, str] | None = None) -> Iterator[InstructionRecord]:
    """Records of ``source`` in format ``fmt`` (one of ``INSTRUCTION_LOADERS``), read as they are consumed."""
    try:
        loader = INSTRUCTION_LOADERS[fmt]
    except KeyError:
        known = ", ".join(INSTRUCTION_LOADERS)
        raise ValueError(f"unknown instruction format {fmt!r}; choose one of {known}") from None
    return loader(source, fields)


def load_instructions(source: Source, fmt: str, fields: Mapping[str, str] | None = None) -> list[InstructionRecord]:
    return list(iter_instructions(source, fmt, fields))
