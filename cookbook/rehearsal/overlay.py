"""A recipe with its rehearsal overlay: the overlay's mappings merge into the recipe's, its
other values replace the recipe's (``null`` included), and two placeholders name what only
exists at run time: ``{lookalike}`` (the look-alike teacher's address) and ``{standins}``
(the folder of hub dataset stand-ins)."""

from __future__ import annotations

from pathlib import Path

import yaml

from cookbook.paths import project_root, resolve


def overlay_path(recipe: str | Path) -> Path:
    return project_root() / "recipes" / "rehearsal" / Path(recipe).name


def merge(base, over):
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: merge(base.get(k), v) for k, v in over.items()}}
    return over


def fill(value, places: dict[str, str]):
    if isinstance(value, dict):
        return {k: fill(v, places) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, places) for v in value]
    if isinstance(value, str):
        for name, text in places.items():
            value = value.replace("{" + name + "}", text)
    return value


def rehearsal_recipe(recipe: str | Path, out: Path, places: dict[str, str]) -> tuple[Path, dict]:
    """Write the merged recipe to ``out``; returns it and the overlay's mapping."""
    base = yaml.safe_load(resolve(recipe).read_text(encoding="utf-8"))
    over = yaml.safe_load(overlay_path(recipe).read_text(encoding="utf-8")) or {}
    merged = merge(base, fill(over, places))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"# {recipe} with its rehearsal overlay {overlay_path(recipe).relative_to(project_root())}\n"
                   + yaml.safe_dump(merged, sort_keys=False), encoding="utf-8")
    return out, over
