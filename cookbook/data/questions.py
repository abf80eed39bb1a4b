"""The questions a dataset is built from: {id, question, ground_truth} items.

The recipe's ``data.questions`` names where they come from (:func:`recipe_questions`):

* ``tiny-world:<split>``, a split of the tiny world's toy GSM8K;
* the user's JSON-lines file, one object per line with a ``question`` (or ``problem``)
  and, where known, an ``answer`` (or ``solution``) that verification compares with;
* a dataset, on a hub or on disk (cookbook.data.sources), with its own field names:
  ``{hub: AI-MO/NuminaMath-CoT, split: train, question: problem, answer: solution}``.

Rows are read one at a time and reading stops at the limit: the first 4,000 questions of
NuminaMath-CoT's 860,000 read only the first shard's first batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from cookbook.data.answers import last_boxed
from cookbook.hub import TINY_WORLD_PREFIX
from cookbook.paths import resolve


def toy_questions(problems) -> list[dict]:
    return [{"id": p.id, "question": p.question, "ground_truth": str(p.answer)} for p in problems]


def ground_truth(answer) -> str | None:
    """The final answer a reference answer states: GSM8K's text after ``####``, else a
    solution's last ``\\boxed{}`` (NuminaMath), else the answer itself (``42``)."""
    if answer is None:
        return None
    text = str(answer)
    if "####" in text:
        return text.rsplit("####", 1)[1].strip().replace(",", "")
    boxed = last_boxed(text)
    return boxed if boxed is not None else text.strip()


def iter_questions(data, recipe: str | None = None) -> Iterator[dict]:
    """The questions of a recipe's ``data`` section, one at a time (see the module docstring)."""
    source = data.questions
    if source is None:
        raise ValueError("the recipe's data.questions is not set: name a JSON-lines file of questions "
                         "(one {\"question\": ..., \"answer\": ...} per line), tiny-world:gsm8k_train, or a "
                         "dataset {hub: AI-MO/NuminaMath-CoT, split: train, question: problem, answer: solution}")
    if isinstance(source, str) and source.startswith(TINY_WORLD_PREFIX):
        from cookbook.toy.world import load_world

        yield from toy_questions(load_world().problems(source.removeprefix(TINY_WORLD_PREFIX)))
    elif isinstance(source, str):
        yield from _items(_jsonl_rows(resolve(source)), ("question", "problem"), ("answer", "solution"))
    else:
        from cookbook.data.sources import iter_source_rows

        answer = (source.answer,) if source.answer else ()
        yield from _items(iter_source_rows(source, recipe), (source.question,), answer, hint="data.questions")


def recipe_questions(data, limit: int | None = None, recipe: str | None = None) -> list[dict]:
    """The first ``limit`` questions of a recipe's ``data`` section; only those rows are read."""
    return list(islice(iter_questions(data, recipe), limit))


def load_questions(path: str | Path, limit: int | None = None) -> list[dict]:
    """Items from a JSON-lines file; a row without a question fails with file, line and field."""
    return list(islice(_items(_jsonl_rows(path), ("question", "problem"), ("answer", "solution")), limit))


def _jsonl_rows(path: str | Path) -> Iterator[tuple[str, int, dict]]:
    from cookbook.data.sources import iter_file_rows

    return iter_file_rows(path)


def _items(rows: Iterable[tuple[str, int, dict]], question_keys: tuple[str, ...], answer_keys: tuple[str, ...],
           hint: str | None = None) -> Iterator[dict]:
    """{id, question, ground_truth} per row; the first of ``question_keys`` present is the question."""
    for n, (where, line, row) in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise ValueError(f"{where}:{line}: a row must be an object, got {type(row).__name__}")
        question = next((row[k] for k in question_keys if row.get(k) not in (None, "")), None)
        if not isinstance(question, str) or not question.strip():
            fields = ", ".join(sorted(row)) or "none"
            fix = (f"set {hint}.question to the field that holds it" if hint
                   else "or give 'problem'")
            raise ValueError(f"{where}:{line}: {question_keys[0]}: must be a non-empty string "
                             f"(the row's fields: {fields}; {fix})")
        truth = next((row[k] for k in answer_keys if row.get(k) is not None), None)
        # Without an id: the line of a single file; the row's place in the stream across a dataset's shards.
        fallback = str(n) if hint else str(line)
        yield {"id": str(row["id"]) if row.get("id") not in (None, "") else fallback,
               "question": question, "ground_truth": ground_truth(truth) if hint else _plain(truth)}


def _plain(truth) -> str | None:
    # A user's own JSON-lines file keeps its answer as written (as before), unless it is
    # GSM8K's "reasoning #### 42" shape, whose ground truth is only the part after ####.
    if truth is None:
        return None
    return ground_truth(truth) if "####" in str(truth) else str(truth)
