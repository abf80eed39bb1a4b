"""Where things live: the project root, the cache of built artefacts, run directories."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path:
    """The checkout that holds this package (pyproject.toml beside cookbook/)."""
    root = PACKAGE_DIR.parent
    if (root / "pyproject.toml").exists():
        return root
    return Path.cwd()


def cache_dir() -> Path:
    """Built artefacts (the tiny world): $DISTILL_CACHE, else <project>/.cache."""
    return Path(os.environ.get("DISTILL_CACHE") or project_root() / ".cache")


def resolve(path: str | Path) -> Path:
    """A path as the user wrote it: absolute stays, relative is taken from the project root.

    Notebooks run with their own folder as the working directory (JupyterLab, papermill),
    so `recipes/tiny.yaml` must not depend on the current directory.
    """
    p = Path(path).expanduser()
    return p if p.is_absolute() else project_root() / p
