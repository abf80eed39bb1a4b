"""Execute the cookbook's notebooks with papermill, in order, into a run directory.

    python -m cookbook.notebooks --recipe recipes/tiny.yaml --run-dir runs/demo
    python -m cookbook.notebooks --only 00_setup

Executed copies go to <run_dir>/notebooks/; the committed notebooks stay without outputs.
Each executed copy is rendered to <run_dir>/html/<name>.html right after it runs (also when
it failed), so an interrupted demo still has the renderings of what ran. `make gallery`
(cookbook.gallery) commits a cleaned set of them under docs/executed/.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from cookbook.io import atomic_write_text
from cookbook.paths import project_root, resolve


def notebook_paths() -> list[Path]:
    """The numbered notebooks (00_setup.ipynb, 01_...), in reading order."""
    return sorted(p for p in (project_root() / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def execute(notebook: Path, recipe: str, run_dir: str | Path, timeout: int = 3600) -> Path:
    """Run one notebook with the two standard parameters; returns the executed copy.

    Its HTML rendering goes to <run_dir>/html/<name>.html, also when a cell failed.
    """
    import papermill

    out_dir = resolve(run_dir) / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / notebook.name
    html = resolve(run_dir) / "html" / f"{notebook.stem}.html"
    try:
        papermill.execute_notebook(
            str(notebook), str(out),
            parameters={"recipe": recipe, "run_dir": str(resolve(run_dir))},
            cwd=str(notebook.parent),  # as in JupyterLab: a notebook runs in its own folder
            kernel_name="python3",
            progress_bar=False,
            execution_timeout=timeout,
        )
    except BaseException:
        if out.exists():  # papermill saved the cells that ran, the error included: render those
            try:
                render_html(out, html, images_from=notebook.parent)
            except Exception as err:  # the notebook's own error is the one to see
                print(f"    (no HTML rendering of {out.name}: {err})", file=sys.stderr)
        raise
    render_html(out, html, images_from=notebook.parent)
    return out


def render_html(notebook: Path, html: Path, images_from: Path | None = None) -> Path:
    """One executed notebook as a standalone HTML page, written atomically; returns its path.

    nbconvert's 'lab' template, as JupyterLab shows it. Nothing is downloaded: the template's
    CSS and fonts come from the installed jupyterlab and nbconvert packages and are inlined;
    plots are already base64 in the outputs; markdown images are read from ``images_from``
    (the source notebook's folder: their paths are relative to it) and inlined. MathJax and
    require.js stay links to their CDN, which the reader's browser loads (math typesetting
    only; the page reads without them).
    """
    import nbformat

    return atomic_write_text(html, html_of(nbformat.read(notebook, as_version=4), notebook.stem,
                                           images_from or notebook.parent))


def html_of(node, name: str, images_from: Path) -> str:
    """The HTML page of a notebook node (see :func:`render_html`)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", embed_images=True)
    body, _ = exporter.from_notebook_node(node, resources={"metadata": {"name": name, "path": str(images_from)}})
    return body


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
        print(f"    done in {time.time() - t0:.0f}s -> {out} and html/{nb.stem}.html", flush=True)
    print(f"{len(chosen)} notebook(s) in {time.time() - t_all:.0f}s; run directory: {resolve(args.run_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
