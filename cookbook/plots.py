"""Matplotlib charts shown in notebooks and saved into the run directory."""

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
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return fig
