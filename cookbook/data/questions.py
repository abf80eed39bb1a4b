"""The questions a dataset is built from: {id, question, ground_truth} items.

The tiny profile takes them from the toy GSM8K training split; other profiles read the
user's JSON-lines file named by the recipe (``data.questions``), one object per line with
a ``question`` (or ``problem``) and, where known, an ``answer`` (or ``solution``) that
verification compares with.
"""

from __future__ import annotations

from pathlib import Path

from cookbook.io import read_jsonl


def toy_questions(problems) -> list[dict]:
    return [{"id": p.id, "question": p.question, "ground_truth": str(p.answer)} for p in problems]


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
