"""Training files in the formats ms-swift reads, each row validated before it is written.

One JSON object per line (ms-swift's standard ``messages`` format, checked against
ms-swift 4.6's dataset preprocessor and template inputs):

* ``sft``:   ``{"messages": [[system,] user, assistant]}``, for ``swift sft``.
* ``dpo``:   the same, plus ``"rejected_response"``: the rejected reply as a string, which
  ms-swift requires to differ from the chosen (last assistant) reply.
  For ``swift rlhf --rlhf_type dpo``.
* ``cogpo``: a DPO row plus ``"beta"``, the pair's own beta (> 0). ms-swift's DPO trainer
  ignores the column; the cookbook's CogPO trainer reads it (loss_i = -log sigmoid(
  beta_i * margin_i)). ms-swift keeps extra columns for rlhf (remove_unused_columns=False).
* ``grpo``:  ``{"messages": [[system,] user], "solution": ...}``: the prompt only (the
  policy samples the replies) and the ground truth, which ms-swift passes through to the
  reward functions as ``solution``. For ``swift rlhf --rlhf_type grpo``.
* ``kd``:    the SFT shape: prompt plus the response the KD loss is computed on. What
  ms-swift GKD (``swift rlhf --rlhf_type gkd``) expects: ``messages`` ending in an
  assistant reply. At each step, with probability ``lmbda`` the reply is dropped and the
  student generates its own from the prompt (on-policy); otherwise the dataset reply is
  used (off-policy; ``lmbda=0`` is pure distillation on these replies). Either way the
  teacher (``--teacher_model``, or ``--teacher_model_server`` with
  ``--gkd_logits_topk``) scores the same tokens. ``seq_kd`` (the teacher writing the
  replies) is deprecated in 4.6: write teacher replies here instead. The cookbook's
  offline logits KD reads the same rows.

A bad row either stops the write with "<file>:<line>: <field>: <problem>" (the default,
``on_error="raise"``), or, with ``on_error="quarantine"``, goes to
``<name>.quarantine.jsonl`` beside the output with its line, field and reason. Line
numbers count the rows handed to the writer. Nothing is dropped silently: the writer
returns how many rows were written and how many quarantined. Writes are atomic.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cookbook.data.prompts import load_template
from cookbook.data.records import CoTRecord
from cookbook.data.verify import PreferencePair
from cookbook.io import iter_jsonl, write_jsonl

FORMATS = ("sft", "dpo", "cogpo", "grpo", "kd")
_FIELDS = {  # in the order they are checked
    "sft": ("messages",),
    "kd": ("messages",),
    "dpo": ("messages", "rejected_response"),
    "cogpo": ("messages", "rejected_response", "beta"),
    "grpo": ("messages", "solution"),
}
_ROLES = ("system", "user", "assistant")


class RowError(ValueError):
    """One row is invalid: which field, and what is wrong with it."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


class DatasetRowError(ValueError):
    """A row of a dataset file is invalid; the message names the file, line and field."""

    def __init__(self, path: str, line: int, field: str, problem: str, more: int = 0):
        hint = (f" ({more} more bad row{'s' if more != 1 else ''}; write with on_error='quarantine' "
                f"to set bad rows aside)") if more else ""
        super().__init__(f"{path}:{line}: {field}: {problem}{hint}")
        self.path, self.line, self.field, self.problem = path, line, field, problem


@dataclass(frozen=True)
class WriteResult:
    path: Path
    written: int
    quarantined: int
    quarantine_path: Path | None  # None when no row was set aside


def quarantine_path(path: str | Path) -> Path:
    """Where rows set aside from ``path`` go: data/sft.jsonl -> data/sft.quarantine.jsonl."""
    path = Path(path)
    stem = path.name[: -len(".jsonl")] if path.name.endswith(".jsonl") else path.name
    return path.with_name(f"{stem}.quarantine.jsonl")


# ---------------------------------------------------------------- validation

def _non_empty_string(value, field: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise RowError(field, "must be a non-empty string")


def _check_messages(messages, fmt: str) -> None:
    if not isinstance(messages, list) or not messages:
        raise RowError("messages", "must be a non-empty list")
    expected = "user"  # after an optional system message, turns alternate user/assistant
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise RowError(where, "must be an object with role and content")
        extra = sorted(set(m) - {"role", "content"})
        if extra:
            raise RowError(f"{where}.{extra[0]}", "unexpected field (a message has role and content)")
        role = m.get("role")
        if role not in _ROLES:
            raise RowError(f"{where}.role", f"must be one of {', '.join(_ROLES)}, got {role!r}")
        _non_empty_string(m.get("content"), f"{where}.content")
        if role == "system":
            if i != 0:
                raise RowError(f"{where}.role", "'system' is only allowed as the first message")
            continue
        if role != expected:
            raise RowError(f"{where}.role", f"expected {expected!r} here (turns alternate user, assistant)")
        expected = "assistant" if role == "user" else "user"
    last = len(messages) - 1
    if fmt == "grpo":
        if messages[last]["role"] != "user":
            raise RowError(f"messages[{last}].role", "must end with the user message "
                                                     "(in GRPO the policy writes the reply)")
    elif messages[last]["role"] != "assistant":
        raise RowError(f"messages[{last}].role", "must end with the assistant reply to learn")


def validate_row(row, fmt: str) -> None:
    """Raise ``RowError`` naming the first invalid field of ``row`` for format ``fmt``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not isinstance(row, dict):
        raise RowError("row", f"must be a JSON object, got {type(row).__name__}")
    for key in _FIELDS[fmt]:
        if key not in row:
            raise RowError(key, f"missing (a {fmt} row has {', '.join(_FIELDS[fmt])})")
    extra = sorted(set(row) - set(_FIELDS[fmt]))
    if extra:
        raise RowError(extra[0], f"unexpected field for {fmt} (allowed: {', '.join(_FIELDS[fmt])})")
    _check_messages(row["messages"], fmt)
    if "rejected_response" in _FIELDS[fmt]:
        _non_empty_string(row["rejected_response"], "rejected_response")
        if row["rejected_response"].strip() == row["messages"][-1]["content"].strip():
            raise RowError("rejected_response", "must differ from the chosen reply (the last message)")
    if "beta" in _FIELDS[fmt]:
        beta = row["beta"]
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not math.isfinite(beta) or beta <= 0:
            raise RowError("beta", f"must be a positive number, got {beta!r}")
    if "solution" in _FIELDS[fmt]:
        _non_empty_string(row["solution"], "solution")
    try:
        json.dumps(row, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise RowError("row", f"not JSON-serialisable ({e})") from None


# ---------------------------------------------------------------- writing

def write_rows(path: str | Path, rows: Iterable[dict], fmt: str,
               on_error: Literal["raise", "quarantine"] = "raise") -> WriteResult:
    """Validate every row, then write the file atomically (and the quarantine file, if any)."""
    if on_error not in ("raise", "quarantine"):
        raise ValueError(f"on_error must be 'raise' or 'quarantine', got {on_error!r}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    good, bad = [], []
    for line, row in enumerate(rows, 1):
        try:
            validate_row(row, fmt)
            good.append(row)
        except RowError as e:
            bad.append((line, e, row))
    if bad and on_error == "raise":
        line, e, _ = bad[0]
        raise DatasetRowError(str(path), line, e.field, e.problem, more=len(bad) - 1)
    q_path = quarantine_path(path)
    if bad:
        write_jsonl(q_path, ({"line": line, "field": e.field, "reason": e.problem, "row": _jsonable(row)}
                             for line, e, row in bad))
    else:
        q_path.unlink(missing_ok=True)  # a quarantine file left by an earlier write would mislead
    if not good:
        where = f"; see {q_path}" if bad else ""
        raise ValueError(f"{path}: no valid rows to write ({len(bad)} quarantined{where})")
    write_jsonl(path, good)
    return WriteResult(Path(path), len(good), len(bad), q_path if bad else None)


def _jsonable(row):
    """The row as it was, or its repr when it cannot be stored as JSON (NaN, objects)."""
    try:
        json.dumps(row, allow_nan=False)
        return row
    except (TypeError, ValueError):
        return repr(row)


def validate_file(path: str | Path, fmt: str) -> int:
    """Check an existing JSON-lines file (e.g. one a user brings); returns its row count."""
    count = 0
    for line_no, row in iter_jsonl(path):
        try:
            validate_row(row, fmt)
        except RowError as e:
            raise DatasetRowError(str(path), line_no, e.field, e.problem) from None
        count += 1
    return count


def write_sft(path, rows, on_error="raise") -> WriteResult:
    return write_rows(path, rows, "sft", on_error)


def write_dpo(path, rows, on_error="raise") -> WriteResult:
    return write_rows(path, rows, "dpo", on_error)


def write_cogpo(path, rows, on_error="raise") -> WriteResult:
    return write_rows(path, rows, "cogpo", on_error)


def write_grpo(path, rows, on_error="raise") -> WriteResult:
    return write_rows(path, rows, "grpo", on_error)


def write_kd(path, rows, on_error="raise") -> WriteResult:
    return write_rows(path, rows, "kd", on_error)


# ---------------------------------------------------------------- rows from records

def prompt_messages(question: str, system: str | None = None, template: str = "cot_generation") -> list[dict]:
    """The student's prompt: the template's user line (the one evaluation uses), optional system.

    The teacher's R1 system prompt is left out by default: the student learns to answer
    the bare evaluation prompt.
    """
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": load_template(template).render_user(question=question)}]


def sft_row(record: CoTRecord, system: str | None = None) -> dict:
    return {"messages": prompt_messages(record.question, system)
            + [{"role": "assistant", "content": record.response}]}


def kd_row(record: CoTRecord, system: str | None = None) -> dict:
    return sft_row(record, system)


def dpo_row(pair: PreferencePair, system: str | None = None) -> dict:
    return {"messages": prompt_messages(pair.question, system)
            + [{"role": "assistant", "content": pair.chosen.response}],
            "rejected_response": pair.rejected.response}


def cogpo_row(pair: PreferencePair, system: str | None = None) -> dict:
    return {**dpo_row(pair, system), "beta": pair.beta}


def grpo_row(question: str, solution: str | int | float | None, system: str | None = None) -> dict:
    """A GRPO prompt; ``solution`` is the ground truth the reward checks (None fails validation)."""
    return {"messages": prompt_messages(question, system),
            "solution": None if solution is None else str(solution)}
