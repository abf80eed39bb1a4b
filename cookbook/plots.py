"""Matplotlib charts shown in notebooks and saved into the run directory (one module for all of them).

The comparison report draws its own charts (cookbook.eval.report): they follow evalscope's results.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt


def grouped_bars(values: dict[str, dict[str, float]], title: str, ylabel: str, path: str | Path):
    """One group of bars per x label, one bar per series; saves a PNG and returns the figure."""
    series = list(values)
    labels = list(next(iter(values.values())))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for i, name in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(labels))]
        bars = ax.bar(xs, [values[name][lab] for lab in labels], width, label=name)
        ax.bar_label(bars, fmt="{:.0%}", fontsize=7)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    return _save(fig, path)


def curves(histories: dict[str, list[dict]], key: str, title: str, path: str | Path, ylabel: str | None = None,
           logy: bool = False):
    """Training curves: one line per run of a logged ``key`` against the optimizer step."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for label, history in histories.items():
        points = series(history, key)
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
    return _save(fig, path)


def series(history: list[dict], key: str) -> list[tuple[int, float]]:
    """(step, value) pairs of one logged value."""
    return [(h["step"], h[key]) for h in history if isinstance(h.get(key), int | float)]


def topk_mass(mass, k: int, path: str | Path):
    """The teacher's cumulative probability in its top k tokens, on a log axis, the recipe's k marked."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(range(1, len(mass) + 1), mass, marker="o", markersize=3)
    ax.axvline(k, color="grey", ls="--", label=f"k = {k} (the recipe)")
    ax.set_xscale("log")
    ax.set_xlabel("k (the teacher's most likely tokens)")
    ax.set_ylabel("cumulative probability")
    ax.set_title("The teacher's probability mass in its top k tokens")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def _save(fig, path: str | Path):
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return fig
