"""The committed gallery of executed notebooks, docs/executed/, refreshed from a demo run.

    make gallery                      # from runs/demo, the last `make demo`
    python -m cookbook.gallery --run-dir runs/demo

A reader on GitHub sees the committed notebooks without outputs; the gallery holds each
notebook as the tiny profile executed it, and its HTML rendering where that is small
enough (over 2 MB only the .ipynb is kept: the repository stays lean). Before anything is
written every executed copy is checked: it ran to the end, and its code cells are the
source notebook's (:func:`code_drift`; tests/test_gallery.py checks the committed copies the
same way). What a commit must not carry is stripped from every cell and the metadata
(:func:`clean`): the machine's absolute paths (the run directory, the checkout, the home
folder) become relative ones, and secrets are masked.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from cookbook.io import atomic_write_text
from cookbook.paths import project_root, resolve
from cookbook.procs import SECRET_FLAGS

HTML_LIMIT = 2 * 2**20  # bytes; a larger rendering stays out of the repository
INJECTED = "injected-parameters"  # papermill's tag on the cell it adds after the `parameters` cell
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD", re.IGNORECASE)
_KEY_SHAPES = [re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"), re.compile(r"(?<=Bearer )[A-Za-z0-9._\-]{16,}")]
# A value after a secret flag: `--api_key X`, `--api_key=X`, and in a printed argv list `'--api_key', 'X'`.
_FLAG_VALUE = re.compile(r"(%s)(['\"]?(?:\s*,\s*|\s+|=)['\"]?)(?!\*\*\*)([^\s'\",\]]+)"
                         % "|".join(re.escape(f) for f in sorted(SECRET_FLAGS, key=len, reverse=True)))


def gallery_dir() -> Path:
    return project_root() / "docs" / "executed"


class GalleryError(RuntimeError):
    """An executed notebook that must not go into the gallery (stale, failed, unknown)."""


# ---------------------------------------------------------------- the code-cell check


def code_sources(nb, executed: bool = False) -> list[str]:
    """The code cells' sources in order; in an executed copy, without papermill's injected cell."""
    return [_text(c.source) for c in nb.cells
            if c.cell_type == "code" and not (executed and INJECTED in c.metadata.get("tags", []))]


def code_drift(source, executed) -> list[str]:
    """What differs between the code of a source notebook and of its executed copy; [] when none.

    Outputs, execution counts and cell metadata are ignored. The executed copy may hold one
    extra code cell, papermill's ``injected-parameters`` cell (the values the run was given):
    it is expected, once, right after the source's ``parameters`` cell, and is left out of
    the comparison. Markdown cells are not compared (a prose edit does not stale the outputs).
    """
    problems = []
    tags = [c.metadata.get("tags", []) for c in executed.cells]
    injected = [i for i, t in enumerate(tags) if INJECTED in t]
    if len(injected) > 1:
        problems.append(f"{len(injected)} cells tagged {INJECTED!r}, papermill adds one")
    for i in injected:
        if not (i > 0 and "parameters" in tags[i - 1]):
            problems.append(f"the {INJECTED!r} cell (cell {i}) does not follow the 'parameters' cell")
    want, got = code_sources(source), code_sources(executed, executed=True)
    if want != got:
        n = next((k for k, (a, b) in enumerate(zip(want, got)) if a != b), min(len(want), len(got)))
        diff = difflib.unified_diff((want[n] if n < len(want) else "").splitlines(),
                                    (got[n] if n < len(got) else "").splitlines(),
                                    "source", "executed", lineterm="", n=1)
        problems.append(f"code cells differ: {len(want)} in the source, {len(got)} executed; "
                        f"first difference at code cell {n}:\n" + "\n".join(list(diff)[:20]))
    return problems


def failure(executed) -> str | None:
    """Why an executed copy did not run to the end (papermill's exception flag, an error output)."""
    if executed.metadata.get("papermill", {}).get("exception"):
        return "papermill recorded an exception: the run stopped in this notebook"
    for i, cell in enumerate(executed.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"cell {i} has an error output ({out.get('ename')})"
    return None


# ---------------------------------------------------------------- stripping


@dataclass
class Scrubber:
    """Rewrites text for a commit: machine paths to relative ones, secrets to ***."""

    replacements: list[tuple[re.Pattern, str]]
    secrets: list[str]

    @classmethod
    def for_run(cls, run_dir: Path, root: Path | None = None, home: Path | None = None,
                secrets: list[str] | None = None) -> Scrubber:
        root = Path(root or project_root())
        home = Path(home or Path.home())
        run_dir = Path(run_dir)
        try:
            run_label = run_dir.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            run_label = f"runs/{run_dir.name}"  # where `make demo` would have put it
        pairs = []  # the longest prefix first: the run folder usually lies inside the checkout
        for prefix, label, child_label in [(run_dir, run_label, run_label + "/"), (root, ".", ""),
                                           (home, "~", "~/")]:
            if len(prefix.parts) < 2:
                continue  # never "/"
            for form in dict.fromkeys([str(prefix), str(prefix.resolve())]):
                pairs.append((len(form), re.compile(re.escape(form) + "/"), child_label))
                pairs.append((len(form), re.compile(re.escape(form) + r"(?![\w.\-/])"), label))
        pairs.sort(key=lambda p: -p[0])
        found = [v for k, v in os.environ.items() if _SECRET_NAME.search(k) and len(v) >= 8]
        return cls([(pattern, label) for _, pattern, label in pairs],
                   sorted(set(found + list(secrets or [])), key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        text = _FLAG_VALUE.sub(r"\1\2***", text)
        for shape in _KEY_SHAPES:
            text = shape.sub("***", text)
        for pattern, label in self.replacements:
            text = pattern.sub(label, text)
        return text


def clean(nb, scrub: Scrubber):
    """The notebook with every string scrubbed (sources, outputs, metadata), in place; returned.

    Base64 images (PNG, JPEG ...) are left as they are: their text is not the machine's.
    """
    def walk(obj, key=None):
        if isinstance(obj, str):
            return obj if _is_binary_image(key) else scrub(obj)
        if isinstance(obj, list):
            return [walk(v, key) for v in obj]
        if isinstance(obj, dict):
            for k in list(obj):
                obj[k] = walk(obj[k], k)
            return obj
        return obj

    walk(nb)
    return nb


def _is_binary_image(mime) -> bool:
    return isinstance(mime, str) and mime.startswith("image/") and not mime.startswith("image/svg")


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else source


# ---------------------------------------------------------------- the refresh


def refresh(run_dir: str | Path, gallery: str | Path | None = None, sources: list[Path] | None = None,
            html_limit: int = HTML_LIMIT, scrub: Scrubber | None = None, say=print) -> list[dict]:
    """Copy <run_dir>/notebooks/NN_*.ipynb into the gallery, cleaned, with their HTML where small.

    Checks every executed copy first and writes nothing if one is stale (its code differs from
    the source notebook's), failed, or has no source notebook. A gallery file whose source
    notebook is gone is removed; one the run did not execute (``--only``) stays. Returns one
    row per notebook: name, ipynb_bytes, html_bytes (None: over ``html_limit``, not kept).
    """
    import nbformat

    from cookbook.notebooks import html_of, notebook_paths

    run = resolve(run_dir)
    gallery = resolve(gallery) if gallery else gallery_dir()
    by_name = {p.name: p for p in (sources if sources is not None else notebook_paths())}
    executed = sorted((run / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not executed:
        raise GalleryError(f"no executed notebooks in {run / 'notebooks'}: run `make demo` first "
                           "(or give the run directory: make gallery RUN_DIR=runs/<name>)")
    scrub = scrub or Scrubber.for_run(run)
    problems, ready = [], []
    for path in executed:
        if path.name not in by_name:
            problems.append(f"{path}: no source notebook notebooks/{path.name}")
            continue
        nb = clean(nbformat.read(path, as_version=4), scrub)
        why = failure(nb)
        drift = code_drift(nbformat.read(by_name[path.name], as_version=4), nb)
        if why or drift:
            problems.append(f"{path}: " + "; ".join(([why] if why else []) + drift))
        ready.append((path, nb))
    if problems:
        raise GalleryError("not refreshing the gallery; rerun the notebooks (make demo) first:\n"
                           + "\n".join(problems))
    gallery.mkdir(parents=True, exist_ok=True)
    rows = []
    for path, nb in ready:
        text = nbformat.writes(nb)
        atomic_write_text(gallery / path.name, text if text.endswith("\n") else text + "\n")
        page = html_of(nb, path.stem, by_name[path.name].parent)
        html = gallery / f"{path.stem}.html"
        size = len(page.encode())
        if size <= html_limit:
            atomic_write_text(html, page)
        else:
            html.unlink(missing_ok=True)  # an older, smaller rendering would no longer match
        rows.append({"name": path.name, "ipynb_bytes": (gallery / path.name).stat().st_size,
                     "html_bytes": size if size <= html_limit else None})
        say(f"{path.name:32s} {rows[-1]['ipynb_bytes'] / 1e3:8.0f} kB  "
            + (f"html {size / 1e3:6.0f} kB" if size <= html_limit else
               f"html {size / 1e6:.1f} MB > {html_limit / 1e6:.1f} MB: not kept"))
    stems = {Path(n).stem for n in by_name}
    for old in sorted(gallery.glob("[0-9][0-9]_*")):
        if old.suffix in (".ipynb", ".html") and old.stem not in stems:
            old.unlink()
            say(f"removed {old.name}: its source notebook is gone")
    leftover = sorted({m.group(0) for _, nb in ready for m in _ABSOLUTE.finditer(nbformat.writes(nb))})
    if leftover:
        say("absolute paths still in the gallery (check before committing): " + ", ".join(leftover[:10]))
    return rows


# Paths that look like a machine's own, after the scrub (system folders such as /usr are fine).
_ABSOLUTE = re.compile(r"(?<![\w.~])/(?:home|root|Users|tmp|work|mnt|scratch|data)/[\w.\-/]+")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", default="runs/demo", help="the run whose notebooks/ to take (default runs/demo)")
    parser.add_argument("--gallery", default=None, help="default docs/executed")
    parser.add_argument("--html-limit-mb", type=float, default=HTML_LIMIT / 2**20)
    args = parser.parse_args(argv)
    try:
        rows = refresh(args.run_dir, args.gallery, html_limit=int(args.html_limit_mb * 2**20))
    except GalleryError as err:
        print(err, file=sys.stderr)
        return 1
    print(f"{len(rows)} notebook(s) in {resolve(args.gallery) if args.gallery else gallery_dir()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
