"""The gallery (docs/executed/): its executed notebooks run the committed code, and carry
neither the machine's paths nor a secret. cookbook.gallery refreshes it from a demo run."""

import copy
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from cookbook import gallery
from cookbook.gallery import GalleryError, Scrubber, code_drift, failure, refresh
from cookbook.paths import project_root

COMMITTED = sorted(gallery.gallery_dir().glob("*.ipynb"))
CANARY = "sk-canary-7f3a9c1e-never-print-me"  # as tests/conftest.py puts in every key variable


def source_notebook(*code: str):
    """A source notebook as committed: title, a `parameters` cell, then the code cells."""
    params = new_code_cell('recipe = "recipes/tiny.yaml"  # the recipe\nrun_dir = "runs/demo"  # its run')
    params.metadata["tags"] = ["parameters"]
    return new_notebook(cells=[new_markdown_cell("# Title"), params]
                        + [new_code_cell(c) for c in code] + [new_markdown_cell("The end.")])


def executed_copy(source, run_dir="/somewhere/runs/demo", outputs=()):
    """What papermill makes of ``source``: the injected cell after `parameters`, outputs, counts."""
    nb = copy.deepcopy(source)
    injected = new_code_cell(f'# Parameters\nrecipe = "recipes/tiny.yaml"\nrun_dir = "{run_dir}"\n')
    injected.metadata["tags"] = ["injected-parameters"]
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])) + 1
    nb.cells.insert(at, injected)
    count = 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            count += 1
            cell.execution_count = count
            cell.outputs = [new_output("stream", name="stdout", text=f"output {count}\n")]
    code = [c for c in nb.cells if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]
    for cell, text in zip(code[1:], outputs):
        cell.outputs = [new_output("stream", name="stdout", text=text)]
    nb.metadata["papermill"] = {"exception": None, "input_path": "x", "output_path": run_dir + "/notebooks/x"}
    return nb


# ------------------------------------------------------------- the code-cell check, on synthetic pairs


def test_an_executed_copy_of_the_same_code_is_in_step_injected_cell_outputs_and_counts_aside():
    source = source_notebook("import math", "print(math.pi)")
    executed = executed_copy(source)
    executed.cells[0].source = "# Title, reworded since the run"  # prose: not compared
    assert code_drift(source, executed) == []
    assert len(gallery.code_sources(executed)) == len(gallery.code_sources(source)) + 1  # the injected cell


def test_a_changed_code_cell_is_detected_and_shown():
    source = source_notebook("import math", "print(math.pi)")
    executed = executed_copy(source)
    source.cells[3].source = "print(math.e)"  # the committed notebook moved on after the run
    [problem] = code_drift(source, executed)
    assert "first difference at code cell 2" in problem
    assert "-print(math.e)" in problem and "+print(math.pi)" in problem


def test_an_added_or_removed_code_cell_is_detected():
    source = source_notebook("import math", "print(math.pi)")
    executed = executed_copy(source)
    assert code_drift(source_notebook("import math", "print(math.pi)", "print(1)"), executed)
    assert code_drift(source_notebook("import math"), executed)


def test_the_injected_cell_is_expected_once_right_after_the_parameters_cell():
    source = source_notebook("import math")
    executed = executed_copy(source)
    executed.cells.append(executed.cells[2])  # a second injected cell, at the end
    problems = code_drift(source, executed)
    assert any("2 cells tagged 'injected-parameters'" in p for p in problems)
    assert any("does not follow the 'parameters' cell" in p for p in problems)


def test_an_untagged_injected_cell_counts_as_code():
    source = source_notebook("import math")
    executed = executed_copy(source)
    executed.cells[2].metadata.tags = []
    assert code_drift(source, executed)


def test_a_failed_run_is_named():
    executed = executed_copy(source_notebook("1 / 0"))
    assert failure(executed) is None
    executed.cells[3].outputs = [new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                            traceback=[])]
    assert "ZeroDivisionError" in failure(executed)
    executed.metadata.papermill["exception"] = True
    assert "exception" in failure(executed)


# ------------------------------------------------------------- the committed gallery


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.name)
def test_committed_executed_notebook_runs_the_committed_code(path):
    """Fails when a notebook's code changed after the gallery's run: `make demo && make gallery`."""
    source = project_root() / "notebooks" / path.name
    assert source.exists(), f"{path} has no source notebook {source} (run `make gallery` to drop it)"
    executed = nbformat.read(path, as_version=4)
    assert code_drift(nbformat.read(source, as_version=4), executed) == [], (
        f"{path} is stale: run `make demo && make gallery`")
    assert failure(executed) is None


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.name)
def test_committed_executed_notebook_carries_no_machine_path_and_no_key(path):
    text = path.read_text()
    assert str(project_root()) not in text and CANARY not in text
    assert not gallery._ABSOLUTE.findall(text)
    html = path.with_suffix(".html")
    assert not html.exists() or html.stat().st_size <= gallery.HTML_LIMIT


# ------------------------------------------------------------- the refresh, on a synthetic run directory


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """A checkout, a home folder, a run directory outside both, a key in the environment."""
    root, home = tmp_path / "checkout", tmp_path / "home"
    run = tmp_path / "scratch" / "demo"
    src = root / "notebooks"
    for d in (src, home, run / "notebooks"):
        d.mkdir(parents=True)
    monkeypatch.setenv("SOME_TEACHER_API_KEY", "a-private-key-123456")
    source = source_notebook("import math", "print(math.pi)")
    nbformat.write(source, src / "01_demo.ipynb")
    outputs = [f"wrote {run}/sft/model\nread {root}/.cache/world and {home}/.cache/hf\n"
               f"swift sft --api_key {CANARY} --hub_token=tok-secret-value ['--api-key', 'abc-secret-777']\n"
               "key a-private-key-123456 in the log\n"]
    nbformat.write(executed_copy(source, run_dir=str(run), outputs=outputs), run / "notebooks" / "01_demo.ipynb")
    scrub = Scrubber.for_run(run, root=root, home=home)
    return {"root": root, "home": home, "run": run, "src": src, "scrub": scrub, "gallery": tmp_path / "gallery"}


def _refresh(m, **kw):
    return refresh(m["run"], m["gallery"], sources=sorted(m["src"].glob("*.ipynb")), scrub=m["scrub"],
                   say=lambda *_: None, **kw)


def test_refresh_copies_the_notebook_and_its_html_with_paths_made_relative_and_secrets_hidden(machine):
    [row] = _refresh(machine)
    copy = machine["gallery"] / "01_demo.ipynb"
    text = copy.read_text()
    for private in (str(machine["run"]), str(machine["root"]), str(machine["home"]), CANARY,
                    "tok-secret-value", "abc-secret-777", "a-private-key-123456"):
        assert private not in text, private
    nb = nbformat.read(copy, as_version=4)
    out = nb.cells[3].outputs[0].text
    assert "wrote runs/demo/sft/model" in out and "read .cache/world and ~/.cache/hf" in out
    assert "--api_key *** --hub_token=*** ['--api-key', '***']" in out and "key *** in the log" in out
    assert 'run_dir = "runs/demo"' in nb.cells[2].source  # the injected cell, relative too
    assert nb.metadata.papermill["output_path"] == "runs/demo/notebooks/x"
    assert code_drift(nbformat.read(machine["src"] / "01_demo.ipynb", as_version=4), nb) == []
    html = (machine["gallery"] / "01_demo.html").read_text()
    assert "wrote runs/demo/sft/model" in html and str(machine["run"]) not in html
    assert row == {"name": "01_demo.ipynb", "ipynb_bytes": copy.stat().st_size, "html_bytes": len(html.encode())}


def test_a_rendering_over_the_limit_is_not_kept(machine):
    _refresh(machine)
    [row] = _refresh(machine, html_limit=1000)
    assert row["html_bytes"] is None
    assert (machine["gallery"] / "01_demo.ipynb").exists() and not (machine["gallery"] / "01_demo.html").exists()


def test_a_stale_or_failed_run_writes_nothing(machine):
    source = nbformat.read(machine["src"] / "01_demo.ipynb", as_version=4)
    source.cells[3].source = "print(math.tau)"
    nbformat.write(source, machine["src"] / "01_demo.ipynb")
    with pytest.raises(GalleryError, match="01_demo.ipynb: code cells differ"):
        _refresh(machine)
    assert not machine["gallery"].exists()

    source.cells[3].source = "print(math.pi)"
    nbformat.write(source, machine["src"] / "01_demo.ipynb")
    executed = nbformat.read(machine["run"] / "notebooks" / "01_demo.ipynb", as_version=4)
    executed.metadata.papermill["exception"] = True
    nbformat.write(executed, machine["run"] / "notebooks" / "01_demo.ipynb")
    with pytest.raises(GalleryError, match="exception"):
        _refresh(machine)


def test_a_notebook_without_source_is_refused_and_an_orphan_in_the_gallery_removed(machine):
    (machine["run"] / "notebooks" / "01_demo.ipynb").rename(machine["run"] / "notebooks" / "02_gone.ipynb")
    with pytest.raises(GalleryError, match="no source notebook"):
        _refresh(machine)
    (machine["run"] / "notebooks" / "02_gone.ipynb").rename(machine["run"] / "notebooks" / "01_demo.ipynb")
    machine["gallery"].mkdir()
    for name in ("02_gone.ipynb", "02_gone.html"):
        (machine["gallery"] / name).write_text("{}")
    _refresh(machine)
    assert sorted(p.name for p in machine["gallery"].iterdir()) == ["01_demo.html", "01_demo.ipynb"]


def test_an_empty_run_directory_says_what_to_run(tmp_path):
    with pytest.raises(GalleryError, match="make demo"):
        refresh(tmp_path, tmp_path / "gallery", sources=[], say=lambda *_: None)


def test_a_run_inside_the_checkout_keeps_its_own_relative_name(tmp_path):
    scrub = Scrubber.for_run(tmp_path / "runs" / "check", root=tmp_path, home=tmp_path / "nohome")
    assert scrub(f"{tmp_path}/runs/check/sft and {tmp_path}/cookbook/x.py in {tmp_path}") == \
        "runs/check/sft and cookbook/x.py in ."
    assert scrub(f"{tmp_path}other/file") == f"{tmp_path}other/file"  # a sibling folder is not the checkout


def test_base64_images_are_left_alone():
    nb = new_notebook(cells=[new_code_cell("plot()")])
    nb.cells[0].outputs = [new_output("display_data", data={"image/png": "abc/work/main/x", "text/plain": "/work/main/x"})]
    gallery.clean(nb, Scrubber.for_run(Path("/work/main/runs/demo"), root=Path("/work/main"), home=Path("/nohome")))
    assert nb.cells[0].outputs[0].data == {"image/png": "abc/work/main/x", "text/plain": "x"}


def test_gallery_dir_is_docs_executed():
    assert gallery.gallery_dir() == project_root() / "docs" / "executed"
