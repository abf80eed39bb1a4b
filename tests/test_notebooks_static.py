"""Every committed notebook follows the conventions: one parameters cell, no outputs."""

import nbformat
import pytest

from cookbook.notebooks import notebook_paths

NOTEBOOKS = notebook_paths()


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name == "00_setup.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_parameters_cell_with_recipe_and_run_dir_first(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    names = [line.split("=")[0].strip() for line in tagged[0].source.splitlines() if "=" in line]
    assert names[:2] == ["recipe", "run_dir"]
    assert all("#" in line for line in tagged[0].source.splitlines() if "=" in line), "comment every parameter"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs_and_without_shell_tricks(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "clear outputs before committing"
            for bad in ("!pip", "%pip", "restart the kernel", "login("):
                assert bad not in cell.source, bad
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


def test_no_notebook_or_stage_branches_on_the_profiles_name():
    """What differs between profiles is data in the recipe (data.questions, data.judge,
    eval.local, teacher.serve ...): code that asks for the profile's *name* runs in one
    profile only, as notebook 01 once did (a TypeError outside tiny)."""
    import re

    from cookbook.paths import project_root

    name_test = re.compile(r"\bprofile\s*[!=]=|[!=]=\s*[\w.]*\bprofile\b")  # recipe.profile == "tiny"
    offenders = [p.name for p in NOTEBOOKS if name_test.search(p.read_text())]
    code = [p for p in (project_root() / "cookbook").rglob("*.py") if p.name != "recipe.py"]
    offenders += [str(p.relative_to(project_root())) for p in code if name_test.search(p.read_text())]
    assert offenders == []
