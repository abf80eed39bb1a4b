"""What a demo run recorded, as the notebook tests read it: a stage of manifest.json, the
outputs of an executed notebook's code cells, and whether a stage lowered the accuracy."""

import json
import math

import nbformat


def stage(run_dir, name: str) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())["stages"][name]


def code_outputs(run_dir, notebook: str) -> list:
    nb = nbformat.read(run_dir / "notebooks" / notebook, as_version=4)
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def significantly_lower(metrics: dict, name: str | None = None, alpha: float = 0.05) -> bool:
    """Did a stage after SFT lower the accuracy, by McNemar's exact test on the problems it changed?

    The stages after SFT (offline KD, DPO, CogPO, GRPO) must not lower the accuracy. Any step,
    even a small one, moves some of the tiny student's greedy answers both ways: DPO at a
    learning rate of 1e-5 broke 2-12 of the 200 test problems and fixed 2-9 in different runs,
    so the accuracy alone goes up or down by a few points by chance. Under no change, each
    changed problem is as likely broken as fixed: the drop is real when at least ``broken`` of
    ``broken + fixed`` would come up broken with a probability below alpha / 2 (two-sided 5%).
    The exact binomial tail, not the normal approximation, because the counts are small.
    """
    suffix = f"_{name}" if name else ""
    broken, fixed = metrics[f"gsm8k_broken{suffix}"], metrics[f"gsm8k_fixed{suffix}"]
    n = broken + fixed
    tail = sum(math.comb(n, k) for k in range(broken, n + 1)) / 2**n
    return tail < alpha / 2
