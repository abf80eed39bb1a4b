"""`make test`'s two xdist workers: the demo run and each rehearsal are built once, on one worker.

tests/conftest.py marks every test with its xdist group. pytest-xdist 3.8 carries the group in
``item._nodeid``, which pytest 9.2 no longer reads (its nodeid is ``item._id``): there, every
group was silently ignored, both workers ran the 35-minute demo and both the full rehearsal,
and CI failed. This runs a small suite with the project's own grouping hook under two workers.
"""

import os
import subprocess
import sys
import textwrap

from tests.conftest import ROOT

CONFTEST = '''
import os
import pytest
from tests.conftest import pytest_collection_modifyitems  # noqa: F401  (the project's grouping hook)


def built(what):
    open(f"built-{what}-{os.environ['PYTEST_XDIST_WORKER']}", "w").close()


@pytest.fixture(scope="session")
def world():
    return None


@pytest.fixture(scope="session")
def demo_run(world):
    built("demo")


@pytest.fixture(scope="module", params=["workshop", "full"])
def rehearsal(request, world):
    built(f"rehearsal-{request.param}")
'''


def test_the_demo_and_each_rehearsal_are_built_on_one_worker_only(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    for i in range(3):
        (tmp_path / f"test_notebook_{i}.py").write_text(
            "".join(f"def test_{k}(demo_run):\n    pass\n" for k in range(4)))
        (tmp_path / f"test_unit_{i}.py").write_text("".join(f"def test_{k}():\n    pass\n" for k in range(4)))
    (tmp_path / "test_rehearsals.py").write_text(textwrap.dedent("""
        def test_a(rehearsal):
            pass

        def test_b(rehearsal):
            pass
    """))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup",
                             "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestUnknownMarkWarning",
                             f"--basetemp={tmp_path / 'basetemp'}"],  # not beside the running session's
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    built = sorted(p.name.rsplit("-", 1)[0] for p in tmp_path.glob("built-*"))
    assert built == ["built-demo", "built-rehearsal-full", "built-rehearsal-workshop"], built
