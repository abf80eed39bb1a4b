"""Prompt templates kept as data: one YAML file per prompt, rendered into chat messages.

A template file (``cookbook/data/prompts/<name>.yaml``, or any path a user passes) holds
``name``, ``purpose``, ``placeholders``, ``system``, ``user`` and, for judges,
``score_range``. Placeholders are written ``{question}``. Only declared names are
substituted, so LaTeX such as ``\\boxed{}`` needs no escaping, and values are inserted
literally: a question that itself contains ``{answer}`` is not expanded a second time.

Mistakes fail early and say where: a template that uses an undeclared placeholder (or
declares one it never uses) fails when it is loaded; a render with a missing or an
unexpected value fails naming the template and the names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class TemplateError(ValueError):
    """A template file is malformed, or a render got the wrong values."""


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    purpose: str
    placeholders: tuple[str, ...]
    system: str | None
    user: str
    source: str  # the file it came from, for error messages
    score_range: tuple[int, int] | None = None  # judges only: the scale the reply is parsed on

    def render_user(self, **values) -> str:
        return self._fill(self.user, values)

    def render_system(self, **values) -> str | None:
        return self._fill(self.system, values) if self.system else None

    def messages(self, include_system: bool = True, **values) -> list[dict]:
        """The chat messages for a request: [system,] user."""
        self._check(values)
        out = []
        if include_system and self.system:
            out.append({"role": "system", "content": self._fill(self.system, values)})
        out.append({"role": "user", "content": self._fill(self.user, values)})
        return out

    def _check(self, values: dict) -> None:
        missing = [p for p in self.placeholders if p not in values]
        unexpected = sorted(set(values) - set(self.placeholders))
        if missing or unexpected:
            parts = []
            if missing:
                parts.append(f"missing value(s) for {', '.join(missing)}")
            if unexpected:
                parts.append(f"unexpected value(s) {', '.join(unexpected)}")
            raise TemplateError(f"prompt {self.name!r} ({self.source}): {'; '.join(parts)}; "
                                f"it takes {', '.join(self.placeholders) or 'no values'}")
        for key, value in values.items():
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise TemplateError(f"prompt {self.name!r}: value for {key} must be a string or a number, "
                                    f"got {type(value).__name__}")

    def _fill(self, text: str, values: dict) -> str:
        self._check(values)
        # One pass over the template: the inserted values are never scanned again.
        return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), text)


def template_names() -> list[str]:
    """The templates shipped with the cookbook."""
    return sorted(p.stem for p in PROMPTS_DIR.glob("*.yaml"))


def load_template(name_or_path: str | Path) -> PromptTemplate:
    """A shipped template by name (``"cot_generation"``) or a user's YAML file by path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = PROMPTS_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise TemplateError(f"no prompt template named {name_or_path!r}; "
                                f"shipped: {', '.join(template_names())}")
    return _load(str(path.resolve()))


@lru_cache(maxsize=None)
def _load(path: str) -> PromptTemplate:
    try:
        with open(path, encoding="utf-8") as f:
            spec = yaml.safe_load(f)
    except FileNotFoundError:
        raise TemplateError(f"{path}: prompt template file not found") from None
    if not isinstance(spec, dict):
        raise TemplateError(f"{path}: a prompt template must be a YAML mapping")
    unknown = set(spec) - {"name", "purpose", "placeholders", "system", "user", "score_range"}
    if unknown:
        raise TemplateError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    for key in ("name", "user"):
        if not isinstance(spec.get(key), str) or not spec[key].strip():
            raise TemplateError(f"{path}: {key}: must be a non-empty string")
    system = spec.get("system")
    if system is not None and not isinstance(system, str):
        raise TemplateError(f"{path}: system: must be a string")
    declared = spec.get("placeholders") or []
    if not isinstance(declared, list) or not all(isinstance(p, str) for p in declared):
        raise TemplateError(f"{path}: placeholders: must be a list of names")
    used = set(_PLACEHOLDER.findall(spec["user"] + "\n" + (system or "")))
    if used - set(declared):
        raise TemplateError(f"{path}: uses undeclared placeholder(s) {', '.join(sorted(used - set(declared)))}")
    if set(declared) - used:
        raise TemplateError(f"{path}: declares unused placeholder(s) {', '.join(sorted(set(declared) - used))}")
    score_range = spec.get("score_range")
    if score_range is not None:
        if (not isinstance(score_range, list) or len(score_range) != 2
                or not all(isinstance(v, int) for v in score_range) or score_range[0] >= score_range[1]):
            raise TemplateError(f"{path}: score_range: must be [low, high] integers with low < high")
        score_range = (score_range[0], score_range[1])
    return PromptTemplate(name=spec["name"], purpose=spec.get("purpose", ""), placeholders=tuple(declared),
                          system=system, user=spec["user"], source=path, score_range=score_range)


def render(name_or_path: str | Path, include_system: bool = True, **values) -> list[dict]:
    """Shortcut: load a template and render its messages."""
    return load_template(name_or_path).messages(include_system=include_system, **values)
