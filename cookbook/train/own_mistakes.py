"""Preference pairs from the SFT student's own mistakes, each cut after its first wrong step.

DistilQwen2 runs DPO after SFT with chosen = a verified teacher chain and rejected = the
student's own wrong answer. Notebook 02 can only pair the teacher with the *base* student,
and in the tiny world the SFT student no longer makes the base student's one-line guesses:
their margin is already about 150 nats, so DPO has nothing left to teach and only its side
effects remain (measured: 76% -> 73.5% and 81.5% -> 77% at learning rate 1e-5). So the SFT
student answers the preference questions itself, sampled so that it slips, and its wrong
answers become the rejected side.

Each wrong answer is cut after its first wrong step, the idea of Step-DPO (Lai et al., 2024).
The steps before it are right and also open the chosen chain, so they cancel in DPO's margin;
the steps after it are mostly right *given* the slip (a wrong carry, then correct sums of the
wrong digits), and pushing those down teaches the student to compute wrongly. Measured on the
40.5% SFT student, DPO at learning rate 1e-4 on whole wrong answers: 32.5%; on cut answers:
38%; at 1e-5: 41% and 41.5%.

The first wrong step is found as the first line that differs from the teacher's verified
chain. That is exact in the tiny world, where the student learned the teacher's method line
by line. A real student words a right step differently, so there a judge has to find the
first wrong step (Step-DPO asks GPT-4): set ``cut_at_first_wrong_step: false`` to keep whole
answers, or replace :func:`first_wrong_step`.

CogPO's beta per pair grows with the gap between the two chains (CogPO sets beta by the
cognitive gap of a pair): ``gap`` is the share of the teacher's steps the student did not
get right before it slipped, and beta runs linearly from ``beta_range[0]`` (a slip in the
last step) to ``beta_range[1]`` (a slip in the first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cookbook.data import formats
from cookbook.data.answers import extract_answer, is_correct
from cookbook.io import read_jsonl
from cookbook.train.export import load
from cookbook.train.measure import sample_answers


@dataclass(frozen=True)
class Mistake:
    """One wrong answer of the student, ready to be the rejected side of a pair."""

    messages: list[dict]  # the prompt and the teacher's verified chain (the chosen reply)
    rejected: str  # the student's answer, cut after its first wrong step (or whole)
    gap: float  # 0: the slip is in the teacher's last step ... 1: in its first


def first_wrong_step(reply: str, reference: str) -> tuple[str, float] | None:
    """``reply`` up to and including its first line that differs from ``reference``, and the
    gap (the share of the reference's lines from that line on); None if no line differs."""
    got, want = reply.strip().split("\n"), reference.strip().split("\n")
    for i, line in enumerate(got):
        if i >= len(want) or line != want[i]:
            return "\n".join(got[: i + 1]), (len(want) - min(i, len(want))) / len(want)
    return None  # the reply is a prefix of the reference: cut short, not wrong in any step


def find_mistakes(model_dir: str | Path, rows: Sequence[dict], samples: int, temperature: float,
                  max_new_tokens: int, seed: int, cut: bool = True) -> tuple[list[Mistake], dict[str, int]]:
    """Sample ``samples`` answers of the model per question of ``rows`` (DPO rows: the prompt
    and the teacher's verified chain, one question per row), keep the wrong ones, distinct."""
    model, tokenizer = load(model_dir)
    prompts = [r["messages"][:-1] for r in rows]
    answers = sample_answers(model, tokenizer, prompts, samples, temperature, max_new_tokens, seed)
    mistakes, wrong = [], 0
    for row, group in zip(rows, answers):
        chosen = row["messages"][-1]["content"]
        truth = extract_answer(chosen)  # the teacher's chain was verified against the ground truth in 02
        seen = set()
        for text, _ in group:
            if is_correct(text, truth):
                continue
            wrong += 1
            step = first_wrong_step(text, chosen) if cut else (text.strip(), 1.0)
            if step is None or step[0] in seen:  # a cut step differs from the chosen chain by construction
                continue
            seen.add(step[0])
            mistakes.append(Mistake(row["messages"], step[0], step[1]))
    counts = {"questions": len(rows), "answers": len(rows) * samples, "wrong": wrong, "pairs": len(mistakes)}
    return mistakes, counts


def one_row_per_question(path: str | Path) -> list[dict]:
    """The first row of each question in a DPO file (02 may pair one question several times)."""
    rows, seen = [], set()
    for row in read_jsonl(path):
        key = tuple(m["content"] for m in row["messages"][:-1])
        if key not in seen:
            seen.add(key)
            rows.append(row)
    return rows


def write_pairs(mistakes: Sequence[Mistake], out_dir: str | Path, beta_range: tuple[float, float],
                on_error: str = "raise") -> dict[str, Path]:
    """``dpo.jsonl`` and ``cogpo.jsonl`` (beta from the gap) of the mistakes, in ``out_dir``."""
    low, high = beta_range
    dpo = [{"messages": m.messages, "rejected_response": m.rejected} for m in mistakes]
    cogpo = [row | {"beta": round(low + (high - low) * m.gap, 4)} for row, m in zip(dpo, mistakes)]
    paths = pair_paths(out_dir)
    return {"dpo": formats.write_dpo(paths["dpo"], dpo, on_error).path,
            "cogpo": formats.write_cogpo(paths["cogpo"], cogpo, on_error).path}


def pair_paths(out_dir: str | Path) -> dict[str, Path]:
    """Where :func:`write_pairs` writes (``own_dpo.jsonl``, ``own_cogpo.jsonl``): cookbook.plan reads it too."""
    return {kind: Path(out_dir) / f"own_{kind}.jsonl" for kind in ("dpo", "cogpo")}
