"""The rehearsals: the workshop and full recipes' notebooks 00-07 on this CPU, under their overlays.

Each runs `python -m cookbook.rehearsal` (what `make rehearse` runs) under the network guard,
with a canary in every API-key variable, and checks what the run recorded: every notebook
completed, every stage recorded its outputs, the report holds every model on every benchmark,
the look-alike teacher was asked (and rate-limited), and nothing reached beyond loopback.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import API_KEY_CANARY, ROOT, guarded_environment

STAGES = ["setup", "teacher", "data", "sft", "kd", "preference", "grpo", "eval"]


@pytest.fixture(scope="module", params=["workshop", "full"])
def rehearsal(request, world, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"rehearse-{request.param}")
    log, run_dir = tmp / "netguard.log", tmp / "run"
    result = subprocess.run(
        [sys.executable, "-m", "cookbook.rehearsal", "--recipe", f"recipes/{request.param}.yaml",
         "--run-dir", str(run_dir)],
        env=guarded_environment(log), capture_output=True, text=True, timeout=3600, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return request.param, run_dir, log, result.stdout


def test_every_notebook_ran_and_every_stage_recorded_its_outputs(rehearsal):
    name, run_dir, _, stdout = rehearsal
    assert f"rehearsal overlay of recipes/{name}.yaml" in stdout  # the overlay was printed
    times = json.loads((run_dir / "rehearsal.json").read_text())["notebook_seconds"]
    assert len(times) == 8 and all(name.startswith(f"{i:02d}_") for i, name in enumerate(times))
    stages = json.loads((run_dir / "manifest.json").read_text())["stages"]
    assert set(STAGES) <= set(stages)
    for stage in STAGES:
        outputs = stages[stage]["outputs"]
        assert outputs, f"stage {stage} recorded no outputs"
        assert all((run_dir / o["path"]).exists() for o in outputs.values()), f"stage {stage}: an output is missing"


def test_the_recipe_is_the_recipes_own_except_the_declared_swaps(rehearsal):
    import yaml

    from cookbook.rehearsal.overlay import Replace, load_overlay, merge, overlay_path

    name, run_dir, _, _ = rehearsal
    own = yaml.safe_load((ROOT / "recipes" / f"{name}.yaml").read_text())
    swaps = load_overlay(overlay_path(f"{name}.yaml"))
    ran = yaml.safe_load((run_dir / "recipe.yaml").read_text())
    assert ran["profile"] == own["profile"] and ran["teacher"]["model"] == own["teacher"]["model"]

    def untouched(a, b, over):
        if not isinstance(over, dict):
            return
        for key in set(a) | set(b):
            if key in over:
                if isinstance(over[key], dict) and not isinstance(over[key], Replace):
                    untouched(a.get(key), b.get(key), over[key])
            else:
                assert a.get(key) == b.get(key), f"{key} differs from the recipe's own without a declared swap"

    untouched(own, ran, swaps)
    assert merge(own, swaps).keys() == ran.keys()


def test_an_overlay_merges_mappings_replaces_values_and_replaces_a_tagged_mapping(tmp_path):
    from cookbook.rehearsal.overlay import load_overlay, merge

    over = tmp_path / "o.yaml"
    over.write_text("a: {b: 2}\nc: null\nd: !replace {x: 1}\n")
    merged = merge({"a": {"b": 1, "k": 0}, "c": 5, "d": {"y": 2}, "e": 3}, load_overlay(over))
    assert merged == {"a": {"b": 2, "k": 0}, "c": None, "d": {"x": 1}, "e": 3}


def test_the_report_holds_every_model_on_every_benchmark(rehearsal):
    from cookbook.recipe import load_recipe

    _, run_dir, _, _ = rehearsal
    recipe = load_recipe(run_dir / "recipe.yaml")
    scores = json.loads((run_dir / "report" / "results.json").read_text())["results"]
    models = {r["model"] for r in scores}
    assert {"teacher", "student-base"} <= models and len(models) >= 8
    for model in models:
        assert {r["benchmark"] for r in scores if r["model"] == model} == set(recipe.eval.benchmarks), model


def test_the_look_alike_teacher_was_asked_rate_limited_and_nothing_left_the_machine(rehearsal):
    _, run_dir, log, _ = rehearsal
    counts = json.loads((run_dir / "rehearsal.json").read_text())["lookalike"]
    assert counts["answered"] > 100 and counts["rate_limited"] > 0 and counts["unauthorized"] == 0
    assert log.read_text() == "", f"network guard: {log.read_text()[:2000]}"
    shown = "".join(p.read_text(errors="replace") for p in (run_dir / "notebooks").glob("*.ipynb"))
    assert API_KEY_CANARY not in shown


def test_the_benchmarks_went_through_evalscopes_hub_path_from_the_runs_own_cache(rehearsal):
    _, run_dir, _, _ = rehearsal
    tasks = [j["task"] for f in (run_dir / "eval").glob("jobs*.json") for j in json.loads(f.read_text())["jobs"]]
    assert tasks
    for t in tasks:  # no local_path: the dataset cache `make download` leaves, read offline
        assert t["dataset_hub"] == "modelscope" and t["dataset_dir"] == str(run_dir / "evalscope-cache"), t
        assert "local_path" not in json.dumps(t.get("dataset_args", {}))


def test_two_rehearsals_asking_for_the_qwen3_standin_at_once_build_it_once(tmp_path, monkeypatch):
    """CI once failed so: the full rehearsal on two xdist workers, both renaming one ``.building`` folder."""
    import threading
    import time
    from types import SimpleNamespace

    from cookbook.rehearsal import qwen3

    builds = []

    def slow_build(world, folder, log):
        builds.append(folder)
        time.sleep(0.3)  # long enough for the other caller to arrive while this one builds
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")

    monkeypatch.setattr(qwen3, "_build", slow_build)
    world = SimpleNamespace(dir=tmp_path / "tiny-world" / "abc")
    folders = []
    callers = [threading.Thread(target=lambda: folders.append(qwen3.qwen3_standin(world))) for _ in range(2)]
    for c in callers:
        c.start()
    for c in callers:
        c.join()
    assert len(builds) == 1 and folders == [builds[0]] * 2
    assert (builds[0] / "config.json").exists()
