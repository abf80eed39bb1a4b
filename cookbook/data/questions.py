"""The questions a dataset is built from: {id, question, ground_truth} items.

The recipe's ``data.questions`` names where they come from (:func:`recipe_questions`):
``tiny-world:<split>``, a split of the tiny world's toy GSM8K, or the user's JSON-lines
file, one object per line with a ``question`` (or ``problem``) and, where known, an
``answer`` (or ``solution``) that verification compares with.
"""

from __future__ import annotations

from pathlib import Path

from cookbook.hub import TINY_WORLD_PREFIX
from cookbook.io import read_jsonl
from cookbook.paths import resolve


def toy_questions(problems) -> list[dict]:
    return [{"id": p.id, "question": p.question, "ground_truth": str(p.answer)} for p in problems]


def recipe_questions(data, limit: int | None = None) -> list[dict]:
    """The questions of a recipe's ``data`` section (``data.questions``), the first ``limit``."""
    source = data.questions
    if source is None:
        raise ValueError("the recipe's data.questions is not set: name a JSON-lines file of questions "
                         "(one {\"question\": ..., \"answer\": ...} per line), or tiny-world:gsm8k_train")
    if source.startswith(TINY_WORLD_PREFIX):
        from cookbook.toy.world import load_world

        return toy_questions(load_world().problems(source.removeprefix(TINY_WORLD_PREFIX))[:limit])
    return load_questions(resolve(source), limit=limit)


def load_questions(path: str | Path, limit: int | None = None) -> list[dict]:
    """Items from a JSON-lines file; a row without a question fails with file, line and field."""
    items = []
    for line, row in enumerate(read_jsonl(path), 1):
        question = row.get("question") or row.get("problem")
        if not isinstance(question, str) or not question.strip():
            raise ValueError(f"{path}:{line}: question: must be a non-empty string (or give 'problem')")
        truth = row.get("answer", row.get("solution"))
        items.append({"id": str(row.get("id", line)), "question": question,
                      "ground_truth": None if truth is None else str(truth)})
        if limit and len(items) >= limit:
            break
    return items
