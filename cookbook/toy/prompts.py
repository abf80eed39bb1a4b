"""How tiny-world problems are asked and answered (the R1 tutorial's user prompt)."""

from __future__ import annotations

# The ModelScope tutorial's user prompt; also evalscope's GSM8K and MATH-500 template.
USER_SUFFIX = "\nPlease reason step by step, and put your final answer within \\boxed{}."


def chat_messages(question: str, system: str | None = None) -> list[dict]:
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": question + USER_SUFFIX}]


def think_response(cot: str, answer: int | str) -> str:
    """An answer in the R1 / Qwen3 thinking format: reasoning in <think>, then the boxed result."""
    return f"<think>\n{cot}\n</think>\n\nThe answer is \\boxed{{{answer}}}."
