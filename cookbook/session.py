"""The first code cell of every notebook: read the recipe, set the hub mode, open the run."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from cookbook import hub
from cookbook.recipe import Recipe, load_recipe
from cookbook.run import Run


@dataclass
class Session:
    recipe: Recipe
    run: Run
    started: float = field(default_factory=time.time)

    def start_model(self, section) -> Path:
        """The SFT model a later stage starts from: ``start_from`` of its recipe section."""
        return self.run.input("sft", section.start_from)

    def record(self, stage: str, outputs: dict, metrics: dict, inputs=None):
        """The last cell of a notebook: record the stage with its wall time; returns the metrics
        as a pandas Series for the notebook to show."""
        import pandas as pd

        wall = time.time() - self.started
        metrics = metrics | {"wall_seconds": round(wall, 1)}
        self.run.record(stage, outputs, inputs=inputs, metrics=metrics)
        print(f"notebook wall time: {wall / 60:.1f} min")
        return pd.Series(metrics, name=stage)

    def summary(self) -> dict[str, str]:
        return {
            "recipe": self.recipe.source,
            "profile": f"{self.recipe.profile}: {self.recipe.hardware}",
            "teacher": self.recipe.teacher_model,
            "student": self.recipe.student_model,
            "hub": hub.hub_mode(),
            "run directory": str(self.run.dir),
        }


def start(recipe: str, run_dir: str) -> Session:
    """Validate the recipe before any work, go offline in the tiny profile, open the run."""
    cfg = load_recipe(recipe)
    if cfg.profile_info.offline:
        hub.go_offline()
    return Session(cfg, Run(run_dir, recipe=recipe, profile=cfg.profile))
