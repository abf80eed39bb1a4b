"""Final-answer extraction and checking, shared by every stage that scores an answer.

Extraction order: the last \\boxed{...}, then GSM8K's "#### N", then the last number.
Comparison is math-verify's (so "1/2", "0.5" and "\\frac{1}{2}" agree).
"""

from __future__ import annotations

import re

from math_verify import parse, verify

_HASHES = re.compile(r"####\s*([^\n]+)")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...}, with nested braces balanced."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    i, depth = start + len("\\boxed{"), 1
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j].strip()
    return None


def extract_answer(text: str) -> str | None:
    """The final answer a response commits to, or None when it gives none."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    hashes = _HASHES.findall(text)
    if hashes:
        return hashes[-1].strip()
    numbers = _NUMBER.findall(text)
    return numbers[-1].replace(",", "") if numbers else None


def is_correct(response: str, truth: str | int | float) -> bool:
    """Does the response's final answer equal the ground truth (math-verify)?"""
    answer = extract_answer(response)
    if answer is None:
        return False
    gold = parse(f"${truth}$")
    pred = parse(f"${answer}$")
    return bool(gold) and bool(pred) and verify(gold, pred)
