"""GRPO's prompts: the questions on the student's frontier, and pass@1 measured on some of them.

GRPO learns only from a group whose answers differ in reward: its advantage is each answer's
reward minus the group's mean. A question the student always gets right, or always wrong,
carries no gradient (ms-swift logs the share of such groups as ``frac_reward_zero_std``).
The SFT student is all-right or all-wrong on most of the questions it was trained on, so the
RL prompts are questions it never saw (notebook 02's ``grpo`` file: ``data.rl_questions``),
filtered to those where it is right on some but not all of ``samples`` answers at the
rollout temperature (``keep``, as DAPO's dynamic sampling does per step, once, up front). A
share of that frontier is held out: pass@1 on it, before and after GRPO, is what the stage
is for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cookbook.data import formats
from cookbook.data.answers import is_correct
from cookbook.eval.results import mean_and_stderr
from cookbook.train.measure import sample_from


@dataclass(frozen=True)
class PassAtOne:
    """Mean right answers per sample over problems, and its standard error across problems."""

    mean: float
    stderr: float
    problems: int
    samples: int

    def __str__(self) -> str:
        return f"{self.mean:.1%} ± {self.stderr:.1%} ({self.problems} problems x {self.samples} samples)"


def right_counts(model_dir: str | Path, rows: Sequence[dict], samples: int, temperature: float,
                 max_new_tokens: int, seed: int, chat_template_kwargs: dict | None = None) -> list[int]:
    """How many of ``samples`` sampled answers to each GRPO row (messages, solution) are right.

    The rows carry their prompt (02's grpo file: the evaluation's user line); ``max_new_tokens`` is
    GRPO's ``max_completion_length``. bfloat16 on a GPU, vLLM where installed (cookbook.eval.quick)."""
    answers = sample_from(model_dir, [r["messages"] for r in rows], samples, temperature, max_new_tokens, seed,
                          chat_template_kwargs)
    return [sum(is_correct(text, row["solution"]) for text, _ in group) for row, group in zip(rows, answers)]


def pass_at_one(counts: Sequence[int], samples: int) -> PassAtOne:
    """pass@1 from right counts per problem; the error treats problems, not samples, as the
    independent draws (the samples of one problem are correlated): the evaluation's own
    mean and standard error over per-problem means."""
    mean, stderr = mean_and_stderr([[c / samples] for c in counts])
    return PassAtOne(mean, stderr, len(counts), samples)


@dataclass(frozen=True)
class Frontier:
    train: Path  # GRPO prompts (the grpo format)
    heldout: Path  # frontier problems kept aside for pass@1
    histogram: list[int]  # questions by right answers, 0..samples
    rows: int  # questions sampled


def frontier_paths(out_dir: str | Path) -> tuple[Path, Path]:
    """Where :func:`split_frontier` writes the training prompts and the held-out ones (cookbook.plan's too)."""
    return Path(out_dir) / "frontier.train.jsonl", Path(out_dir) / "frontier.heldout.jsonl"


def split_frontier(rows: Sequence[dict], counts: Sequence[int], keep: tuple[int, int], heldout: int,
                   out_dir: str | Path, samples: int) -> Frontier:
    """Rows right on ``keep[0]..keep[1]`` samples; the first ``heldout`` of them aside."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    front = [r for r, c in zip(rows, counts) if keep[0] <= c <= keep[1]]
    if len(front) <= heldout:
        raise ValueError(f"{len(front)} of {len(rows)} questions are on the frontier (right on {keep[0]}-{keep[1]} "
                         f"of {samples}), too few to hold out {heldout}: give more data.rl_questions")
    train, held = frontier_paths(out_dir)
    formats.write_grpo(held, front[:heldout])
    formats.write_grpo(train, front[heldout:])
    histogram = [sum(c == k for c in counts) for k in range(samples + 1)]
    return Frontier(train, held, histogram, len(rows))
