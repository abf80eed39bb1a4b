"""A recipe with its rehearsal overlay: the overlay's mappings merge into the recipe's, its
other values replace the recipe's (``null`` included), a mapping tagged ``!replace``
replaces the recipe's whole mapping (``extra: !replace {}`` drops every extra flag), and
placeholders name what only exists at run time: ``{lookalike}`` (the look-alike teacher's
address), ``{standins}`` (the folder of hub dataset stand-ins) and ``{qwen3}`` (the Qwen3
stand-in's folder)."""

from __future__ import annotations

from pathlib import Path

import yaml

from cookbook.paths import project_root, resolve


def overlay_path(recipe: str | Path) -> Path:
    return project_root() / "recipes" / "rehearsal" / Path(recipe).name


class Replace(dict):
    """A mapping that replaces the recipe's instead of merging into it."""


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!replace", lambda loader, node: Replace(loader.construct_mapping(node, deep=True)))


def load_overlay(path: str | Path) -> dict:
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_Loader) or {}


def merge(base, over):
    if isinstance(over, Replace):
        return dict(over)
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: merge(base.get(k), v) for k, v in over.items()}}
    return over


def fill(value, places: dict[str, str]):
    if isinstance(value, dict):
        return type(value)({k: fill(v, places) for k, v in value.items()})
    if isinstance(value, list):
        return [fill(v, places) for v in value]
    if isinstance(value, str):
        for name, text in places.items():
            value = value.replace("{" + name + "}", text)
    return value


def rehearsal_recipe(recipe: str | Path, out: Path, places: dict[str, str]) -> tuple[Path, dict]:
    """Write the merged recipe to ``out``; returns it and the overlay's mapping."""
    base = yaml.safe_load(resolve(recipe).read_text(encoding="utf-8"))
    over = load_overlay(overlay_path(recipe))
    merged = merge(base, fill(over, places))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"# {recipe} with its rehearsal overlay {overlay_path(recipe).relative_to(project_root())}\n"
                   + yaml.safe_dump(merged, sort_keys=False), encoding="utf-8")
    return out, over
