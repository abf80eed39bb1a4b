"""The first code cell of every notebook: read the recipe, set the hub mode, open the run."""

from __future__ import annotations

from dataclasses import dataclass

from cookbook import hub
from cookbook.recipe import Recipe, load_recipe
from cookbook.run import Run


@dataclass
class Session:
    recipe: Recipe
    run: Run

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
