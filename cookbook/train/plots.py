"""Training curves drawn with matplotlib from the values ms-swift logged (logging.jsonl)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt


def curves(histories: dict[str, list[dict]], key: str, title: str, path: str | Path, ylabel: str | None = None,
           logy: bool = False):
    """One line per run of ``key`` against the optimizer step; saves a PNG and returns the figure."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for label, history in histories.items():
        points = [(h["step"], h[key]) for h in history if isinstance(h.get(key), int | float)]
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, marker="o" if len(points) < 15 else None, markersize=3, label=label)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(ylabel or key)
    if logy:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return fig


def series(history: list[dict], key: str) -> list[tuple[int, float]]:
    """(step, value) pairs of one logged value."""
    return [(h["step"], h[key]) for h in history if isinstance(h.get(key), int | float)]
