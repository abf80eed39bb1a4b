"""A run directory and its manifest: how notebooks hand their results to each other.

``runs/<name>/manifest.json`` lists, per stage, the files the stage produced with their
content hashes, the fingerprint of its inputs and a few headline metrics. A notebook
reads its inputs with :meth:`Run.input` (which says which notebook to run when they are
missing), writes outputs atomically into its stage folder, and calls :meth:`Run.record`.
:meth:`Run.is_done` lets a re-run skip a stage whose inputs and outputs are unchanged.

Stages and the notebook that produces each:
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

from cookbook.io import atomic_write_json, sha256_tree
from cookbook.paths import resolve

PRODUCED_BY = {
    "setup": "00_setup",
    "teacher": "01_teacher_prompting",
    "data": "02_cot_dataset",
    "sft": "03_sft",
    "kd": "04_logits_kd",
    "preference": "05_preference",
    "grpo": "06_grpo",
    "eval": "07_evaluation",
}
__doc__ += "\n".join(f"  {stage:<11} {nb}.ipynb" for stage, nb in PRODUCED_BY.items())

# The outputs later stages read, as each notebook records them (relative to the run directory):
# cookbook.plan names an output by it before the stage has run. tests/test_plan.py checks that
# each notebook writes these names.
OUTPUTS = {
    "data": {name: f"data/{name}.jsonl" for name in ("sft", "sft_unselected", "kd", "dpo", "cogpo", "grpo")},
    "sft": {name: f"sft/{name}" for name in ("model-full", "model-lora", "model-unselected")},
    "kd": {name: f"kd/{name}" for name in ("model-kd-offline", "model-gkd")},
    "preference": {name: f"preference/{name}" for name in ("model-dpo", "model-cogpo")},
    "grpo": {"model-grpo": "grpo/model-grpo"},
}


class MissingInput(FileNotFoundError):
    pass


def fingerprint(obj) -> str:
    """A stable hash of JSON-able parameters (sorted keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Run:
    def __init__(self, run_dir: str | Path, recipe: str | None = None, profile: str | None = None):
        self.dir = resolve(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.manifest_path = self.dir / "manifest.json"
        if self.manifest_path.exists():
            self.manifest = json.loads(self.manifest_path.read_text())
        else:
            self.manifest = {"created": _now(), "stages": {}}
        if recipe:
            self.manifest["recipe"] = recipe
        if profile:
            self.manifest["profile"] = profile
        self._save()

    def stage_dir(self, stage: str) -> Path:
        path = self.dir / stage
        path.mkdir(parents=True, exist_ok=True)
        return path

    def record(self, stage: str, outputs: dict[str, str | Path], inputs=None, metrics: dict | None = None) -> dict:
        """Register a finished stage: its outputs (hashed), input fingerprint and metrics."""
        entry = {
            "finished": _now(),
            "inputs": fingerprint(inputs) if inputs is not None else None,
            "outputs": {},
            "metrics": metrics or {},
        }
        for name, path in outputs.items():
            path = Path(path)
            if not path.exists():
                raise FileNotFoundError(f"stage {stage!r}: output {name!r} was not written: {path}")
            entry["outputs"][name] = {"path": self._relative(path), "sha256": sha256_tree(path)}
        self.manifest["stages"][stage] = entry
        self._save()
        return entry

    def input(self, stage: str, name: str) -> Path:
        """The path of an earlier stage's output, checked against its recorded hash."""
        entry = self.manifest["stages"].get(stage)
        hint = f"run notebooks/{PRODUCED_BY.get(stage, stage)}.ipynb with run_dir={str(self.dir)!r} first"
        if entry is None or name not in entry["outputs"]:
            raise MissingInput(f"{self.manifest_path}: stage {stage!r} has no output {name!r}; {hint}")
        out = entry["outputs"][name]
        path = self.dir / out["path"]
        if not path.exists():
            raise MissingInput(f"{self.manifest_path}: {stage}.{name} is recorded but {path} is gone; {hint}")
        if sha256_tree(path) != out["sha256"]:
            raise MissingInput(f"{self.manifest_path}: {path} changed after stage {stage!r} wrote it; {hint}")
        return path

    def metrics(self, stage: str) -> dict:
        return self.manifest["stages"].get(stage, {}).get("metrics", {})

    def is_done(self, stage: str, inputs) -> bool:
        """True when the stage ran with these inputs and its outputs are intact."""
        entry = self.manifest["stages"].get(stage)
        if entry is None or entry["inputs"] != fingerprint(inputs):
            return False
        return all(
            (self.dir / o["path"]).exists() and sha256_tree(self.dir / o["path"]) == o["sha256"]
            for o in entry["outputs"].values()
        )

    def _relative(self, path: Path) -> str:
        path = path.resolve()
        try:
            return str(path.relative_to(self.dir.resolve()))
        except ValueError:
            return str(path)  # an output outside the run (the cached tiny world)

    def _save(self) -> None:
        atomic_write_json(self.manifest_path, self.manifest)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
