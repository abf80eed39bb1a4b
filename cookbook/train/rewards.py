"""Verifiable rewards for GRPO, as ms-swift reward functions (``ORM`` subclasses).

* ``accuracy``: 1 when the completion's final answer (last ``\\boxed{}``) equals the ground
  truth under math-verify (cookbook.data.answers, the checker every stage uses), else 0.
* ``format``: 1 when the completion is ``<think>`` reasoning ``</think>`` followed by an
  answer with a ``\\boxed{}``, else 0: the shape the teacher's CoT taught. With thinking
  on (the recipe's ``train.thinking``), a chat template may open the ``<think>`` in the
  prompt (Qwen3-Thinking, the R1 distills' template), so the completion starts inside the
  reasoning: reasoning ``</think>`` answer counts too (registered as ``cookbook_format_thinking``).
* ``overlong``: 0 up to ``max_tokens - buffer`` completion tokens, then falling linearly
  to -1 at ``max_tokens`` (the recipe's soft_max_length and soft_cache_length, ms-swift's
  flags of the same names): long chains cost, short ones do not.

The plain functions take lists and return lists of floats; the classes are what
``plugins/rewards_plugin.py`` registers in ms-swift's ``orms`` under ``cookbook_<name>``.
"""

from __future__ import annotations

from collections.abc import Sequence

from cookbook.data.answers import is_correct, last_boxed


def accuracy_rewards(completions: Sequence[str], solution: Sequence) -> list[float]:
    return [float(is_correct(c, s)) for c, s in zip(completions, solution, strict=True)]


def is_well_formed(completion: str, thinking: bool = False) -> bool:
    """``<think>`` + non-empty reasoning + ``</think>``, then an answer holding a ``\\boxed{}``.

    ``thinking``: the prompt may already hold the ``<think>`` (a thinking-mode chat template),
    so a completion that starts inside the reasoning (``</think>`` but no ``<think>``) counts too.
    """
    text = completion.strip()
    if text.count("</think>") != 1:
        return False
    if text.startswith("<think>") and text.count("<think>") == 1:
        text = text[len("<think>"):]
    elif not (thinking and "<think>" not in text):
        return False
    reasoning, answer = text.split("</think>")
    return bool(reasoning.strip()) and bool(last_boxed(answer))


def format_rewards(completions: Sequence[str], thinking: bool = False) -> list[float]:
    return [float(is_well_formed(c, thinking)) for c in completions]


def overlong_penalty(length: int, max_tokens: int, buffer: int) -> float:
    """0 until ``max_tokens - buffer`` tokens, then linear down to -1 at ``max_tokens`` (and below it)."""
    if not 0 < buffer < max_tokens:
        raise ValueError(f"need 0 < buffer < max_tokens, got buffer={buffer}, max_tokens={max_tokens}")
    excess = length - (max_tokens - buffer)
    return max(-1.0, min(0.0, -excess / buffer))


def overlong_rewards(lengths: Sequence[int], max_tokens: int, buffer: int) -> list[float]:
    return [overlong_penalty(n, max_tokens, buffer) for n in lengths]


def _token_counts(completions, response_token_ids) -> list[int]:
    if response_token_ids is None:  # not given by this ms-swift path: about 4 characters a token
        return [len(c) // 4 for c in completions]
    return [sum(map(len, ids)) if ids and isinstance(ids[0], list) else len(ids) for ids in response_token_ids]


def _orm_base():
    from swift.rewards.orm import ORM  # imported late: the plain functions need no ms-swift

    return ORM


def make_orms() -> dict[str, type]:
    """The ms-swift reward classes, by the name they are registered under."""
    ORM = _orm_base()

    class CookbookAccuracy(ORM):
        def __call__(self, completions, solution, **kwargs) -> list[float]:
            return accuracy_rewards(completions, solution)

    class CookbookFormat(ORM):
        thinking = False  # the recipe's train.thinking picks the class (cookbook.train.args.grpo_flags)

        def __call__(self, completions, **kwargs) -> list[float]:
            return format_rewards(completions, self.thinking)

    class CookbookFormatThinking(CookbookFormat):
        thinking = True

    class CookbookOverlong(ORM):
        def __call__(self, completions, **kwargs) -> list[float]:
            lengths = _token_counts(completions, kwargs.get("response_token_ids"))
            return overlong_rewards(lengths, self.args.soft_max_length, self.args.soft_cache_length)

    return {"cookbook_accuracy": CookbookAccuracy, "cookbook_format": CookbookFormat,
            "cookbook_format_thinking": CookbookFormatThinking,
            "cookbook_overlong": CookbookOverlong}
