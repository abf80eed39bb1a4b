"""Rehearse a GPU recipe on this CPU: notebooks 00-07 of the recipe, under its overlay.

    python -m cookbook.rehearsal --recipe recipes/workshop.yaml [--run-dir runs/rehearse-workshop]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from cookbook.paths import resolve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", required=True)
    parser.add_argument("--run-dir", default=None, help="default: runs/rehearse-<recipe name>")
    parser.add_argument("--only", nargs="*", help="notebook names (without .ipynb) to run")
    args = parser.parse_args(argv)

    from cookbook.hub import go_offline

    go_offline()  # a rehearsal never leaves the machine; the kernels inherit this
    from cookbook.notebooks import execute, notebook_paths
    from cookbook.recipe import load_recipe
    from cookbook.rehearsal.lookalike import R1LookAlike
    from cookbook.rehearsal.overlay import overlay_path, rehearsal_recipe
    from cookbook.rehearsal.standins import write_benchmark_cache, write_standins
    from cookbook.toy.world import load_world

    if not overlay_path(args.recipe).exists():
        parser.error(f"{args.recipe} has no rehearsal overlay {overlay_path(args.recipe)}: rehearsals are for the "
                     f"GPU recipes (recipes/workshop.yaml, recipes/full.yaml); the tiny profile runs as it is")
    name = os.path.splitext(os.path.basename(args.recipe))[0]
    run_dir = resolve(args.run_dir or f"runs/rehearse-{name}")
    print(f"==> rehearsal of {args.recipe}: every swap, as declared in {overlay_path(args.recipe)}:\n")
    print(overlay_path(args.recipe).read_text(encoding="utf-8"), flush=True)

    world = load_world()
    write_standins(run_dir / "standins", world)
    splits = ["gsm8k_train", "gsm8k_test", "math_500", "aime24", "aime25"]
    teacher = R1LookAlike([p for s in splits for p in world.problems(s)]).start()
    places = {"lookalike": teacher.base_url.removesuffix("/v1"), "standins": str(run_dir / "standins")}
    if "{qwen3}" in overlay_path(args.recipe).read_text(encoding="utf-8"):
        from cookbook.rehearsal.qwen3 import qwen3_standin

        places["qwen3"] = str(qwen3_standin(world))
    recipe_file, _ = rehearsal_recipe(args.recipe, run_dir / "recipe.yaml", places)
    recipe = load_recipe(recipe_file)  # fails here, naming the key, if the overlay broke the recipe
    # The hub benchmarks: evalscope's dataset cache, pre-filled with the tiny world's rows in the
    # layout `make download` leaves, private to this run (never the cache a real evaluation reads).
    os.environ["DISTILL_EVALSCOPE_DIR"] = str(run_dir / "evalscope-cache")
    local = recipe.eval.local if isinstance(recipe.eval.local, dict) else {}
    write_benchmark_cache(run_dir / "evalscope-cache", world, [b for b in recipe.eval.benchmarks if b not in local])
    if recipe.teacher.api_key_env:  # the look-alike wants a key; a real one set here never leaves the machine
        os.environ.setdefault(recipe.teacher.api_key_env, "rehearsal-key-for-the-look-alike")
    chosen = [p for p in notebook_paths() if not args.only or p.stem in args.only]
    t_all, times = time.time(), {}
    try:
        for nb in chosen:
            t0 = time.time()
            print(f"==> {nb.name}", flush=True)
            execute(nb, str(recipe_file), run_dir)
            times[nb.stem] = round(time.time() - t0, 1)
            print(f"    done in {times[nb.stem]:.0f}s", flush=True)
    finally:
        teacher.stop()
        (run_dir / "rehearsal.json").write_text(json.dumps(
            {"recipe": args.recipe, "overlay": str(overlay_path(args.recipe)), "notebook_seconds": times,
             "lookalike": teacher.counts}, indent=1))
    print(f"{len(chosen)} notebook(s) of {args.recipe} rehearsed in {time.time() - t_all:.0f}s; "
          f"look-alike teacher: {teacher.counts}; run directory: {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
