"""Split a teacher's reply into its reasoning and its answer.

Reasoning models deliver the chain of thought in one of two ways:
  * a separate ``reasoning_content`` field (DeepSeek-R1 on DeepSeek, DashScope, ModelScope
    API-Inference, swift deploy; newer vLLM calls it ``reasoning``);
  * inside the content, as ``<think>...</think>`` before the answer (Qwen3, R1 served raw).
    Chat templates that open the ``<think>`` tag in the prompt leave only the closing tag
    in the reply, and a reply cut off by max_tokens has an opening tag and no closing one.
"""

from __future__ import annotations

import re

_OPEN, _CLOSE = "<think>", "</think>"
_LEADING_OPEN = re.compile(r"^\s*<think>")


def split_think(content: str) -> tuple[str | None, str]:
    """(reasoning inside the think block or None, the content without it)."""
    if _CLOSE in content:
        before, _, after = content.partition(_CLOSE)
        return _LEADING_OPEN.sub("", before).strip(), after.strip()
    if _LEADING_OPEN.match(content):  # cut off while still thinking: no answer yet
        return _LEADING_OPEN.sub("", content).strip(), ""
    return None, content.strip()


def split_reply(content: str | None, reasoning_field: str | None) -> tuple[str | None, str]:
    """(reasoning, answer): the reasoning field wins; a think block in content is still removed."""
    think, answer = split_think(content or "")
    reasoning = reasoning_field.strip() if reasoning_field and reasoning_field.strip() else think
    return reasoning, answer


def reasoning_of(message: dict) -> str | None:
    """The reasoning field of a message or a streamed delta, whichever name the server uses:
    DeepSeek and most R1 hosts say ``reasoning_content``, recent vLLM says ``reasoning``."""
    return message.get("reasoning_content") or message.get("reasoning")
