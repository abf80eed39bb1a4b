"""Execute the cookbook's notebooks with papermill, in order, into a run directory.

    python -m cookbook.notebooks --recipe recipes/tiny.yaml --run-dir runs/demo
    python -m cookbook.notebooks --only 00_setup

Executed copies go to <run_dir>/notebooks/; the committed notebooks stay without outputs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from cookbook.paths import project_root, resolve


def notebook_paths() -> list[Path]:
    """The numbered notebooks (00_setup.ipynb, 01_...), in reading order."""
    return sorted(p for p in (project_root() / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def execute(notebook: Path, recipe: str, run_dir: str | Path, timeout: int = 3600) -> Path:
    """Run one notebook with the two standard parameters; returns the executed copy."""
    import papermill

    out_dir = resolve(run_dir) / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / notebook.name
    papermill.execute_notebook(
        str(notebook), str(out),
        parameters={"recipe": recipe, "run_dir": str(resolve(run_dir))},
        cwd=str(notebook.parent),  # as in JupyterLab: a notebook runs in its own folder
        kernel_name="python3",
        progress_bar=False,
        execution_timeout=timeout,
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="recipes/tiny.yaml")
    parser.add_argument("--run-dir", default="runs/demo")
    parser.add_argument("--only", nargs="*", help="notebook names (without .ipynb) to run")
    args = parser.parse_args(argv)

    from cookbook.recipe import load_recipe

    if load_recipe(args.recipe).profile_info.offline:
        from cookbook.hub import go_offline

        go_offline()  # before the kernels start, so they and their children inherit it
    chosen = [p for p in notebook_paths() if not args.only or p.stem in args.only]
    t_all = time.time()
    for nb in chosen:
        t0 = time.time()
        print(f"==> {nb.name}", flush=True)
        out = execute(nb, args.recipe, args.run_dir)
        print(f"    done in {time.time() - t0:.0f}s -> {out}", flush=True)
    print(f"{len(chosen)} notebook(s) in {time.time() - t_all:.0f}s; run directory: {resolve(args.run_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
