"""Instruction data from a teacher: expand a seed set, refine one instruction, extract pairs.

Each task is a request builder (rendered from a YAML template) plus a tolerant parser of
the reply. Parsers return what they could read and never invent content: a reply they
cannot read gives an empty list, and the caller counts it.
"""

from __future__ import annotations

import json
import re

from cookbook.data.prompts import load_template

_NUMBERED = re.compile(r"^\s*(\d+)[.)]\s+(.*\S)\s*$")


def expansion_messages(examples: list[str], count: int) -> list[dict]:
    """Ask for ``count`` new instructions of the same kind as ``examples``."""
    listed = "\n".join(f"{i}. {e.strip()}" for i, e in enumerate(examples, 1))
    return load_template("instruction_expansion").messages(examples=listed, count=count)


def refinement_messages(instruction: str) -> list[dict]:
    return load_template("instruction_refinement").messages(instruction=instruction)


def extraction_messages(text: str, count: int = 3) -> list[dict]:
    """Ask for up to ``count`` instruction / response pairs grounded in ``text``."""
    return load_template("instruction_extraction").messages(text=text, count=count)


def parse_numbered_list(reply: str) -> list[str]:
    """Items of a numbered list ("1. ...", "2) ..."); lines that are not items are ignored."""
    return [m.group(2) for line in reply.splitlines() if (m := _NUMBERED.match(line))]


def parse_refinement(reply: str) -> str | None:
    """The refined instruction: the reply without surrounding quotes or a 'Task:' label."""
    text = re.sub(r"^(improved task|task)\s*:\s*", "", reply.strip(), flags=re.IGNORECASE)
    text = text.strip().strip('"').strip()
    return text or None


def parse_pairs(reply: str) -> list[dict]:
    """{"instruction", "response"} objects, one JSON object per line; other lines are skipped."""
    pairs = []
    for line in reply.splitlines():
        line = line.strip().rstrip(",")
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if (isinstance(obj, dict) and isinstance(obj.get("instruction"), str) and obj["instruction"].strip()
                and isinstance(obj.get("response"), str) and obj["response"].strip()):
            pairs.append({"instruction": obj["instruction"].strip(), "response": obj["response"].strip()})
    return pairs
