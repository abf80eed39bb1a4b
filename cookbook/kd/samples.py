"""Training rows -> the exact token ids the student trains on, each with a stable sample id.

The teacher pass and the trainer both call :func:`encode_file`, so the teacher scores
exactly the ids the student will see: the chat template's prompt (system prompt
included), then the response up to and including the end-of-turn token. The store keeps
a hash of those ids per sample; the trainer re-encodes and compares before training.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from cookbook.data.formats import DatasetRowError, validate_file
from cookbook.io import iter_jsonl
from cookbook.train.export import conversation_ids


@dataclass(frozen=True)
class Sample:
    id: str
    line: int  # line of the data file, for error messages
    input_ids: tuple[int, ...]  # prompt + response
    prompt_len: int  # position t < prompt_len - 1 predicts a prompt token: masked

    @property
    def n_targets(self) -> int:
        """Response tokens: positions prompt_len-1 .. len-2 predict them."""
        return len(self.input_ids) - self.prompt_len


def sample_id(row: dict) -> str:
    """The row's own ``id`` if it has one, else a hash of its conversation."""
    if isinstance(row.get("id"), str | int):
        return str(row["id"])
    return hashlib.sha256(json.dumps(row["messages"], sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def encode_row(tokenizer, row: dict, max_length: int) -> tuple[list[int], int]:
    """(prompt + response ids, prompt length) through the tokenizer's chat template."""
    full, prompt_len = conversation_ids(tokenizer, row["messages"])
    eos = tokenizer.eos_token_id
    if eos is not None and eos in full[prompt_len:]:  # stop after the end-of-turn token (drop the template's "\n")
        full = full[: len(full) - full[::-1].index(eos)]
    return full[:max_length], prompt_len


def encode_file(path: str | Path, tokenizer, max_length: int) -> list[Sample]:
    """Every row of a ``kd`` file, validated (file:line: field: problem) and encoded.

    Rows with the same conversation share one sample id and are kept once. A prompt
    that leaves no room for the response within ``max_length`` fails with its line.
    """
    validate_file(path, "kd")
    samples: dict[str, Sample] = {}
    for line, row in iter_jsonl(path):
        ids, prompt_len = encode_row(tokenizer, row, max_length)
        if len(ids) <= prompt_len:
            raise DatasetRowError(str(path), line, "messages",
                                  f"the prompt alone is {prompt_len} tokens: no response token fits in "
                                  f"max_length {max_length}")
        sid = sample_id(row)
        samples.setdefault(sid, Sample(sid, line, tuple(ids), prompt_len))
    if not samples:
        raise DatasetRowError(str(path), 0, "messages", "the file has no rows")
    return list(samples.values())
