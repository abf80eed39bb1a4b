"""What a demo run recorded, as the notebook tests read it: a stage of manifest.json, and the
outputs of an executed notebook's code cells."""

import json

import nbformat

# Stages after SFT (offline KD, GKD, DPO, CogPO, GRPO) may end a little below the SFT student: it has all but
# memorised its 800 training questions (final loss < 0.01) and every later stage trains on them
# again. Measured, each `swift rlhf` stage costs 1-3 points even at a learning rate of 1e-5 (plain
# SFT continued for 40 steps: 2 points). 0.06 is 12 of the 200 test problems.
AFTER_SFT_TOLERANCE = 0.06


def stage(run_dir, name: str) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())["stages"][name]


def code_outputs(run_dir, notebook: str) -> list:
    nb = nbformat.read(run_dir / "notebooks" / notebook, as_version=4)
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
