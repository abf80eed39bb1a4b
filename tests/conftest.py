import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NETGUARD = Path(__file__).parent / "netguard"
# Put in every key variable a recipe may name: no executed notebook, log or output may show it.
API_KEY_CANARY = "sk-canary-7f3a9c1e-never-print-me"
KEY_VARIABLES = ("OPENAI_API_KEY", "MODELSCOPE_API_KEY", "DASHSCOPE_API_KEY")

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs two xdist workers on two cores: one torch thread for every process a test
    # starts (they inherit it), or each worker's pair of spinning OpenMP threads would fight the
    # other's (cookbook.eval.runner measured such sharing at 3-30 times slower for generate()).
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def world():
    """The cached tiny world (`make test` builds it before pytest starts)."""
    from cookbook.hub import go_offline
    from cookbook.toy.world import load_world

    go_offline()
    return load_world()


def guarded_environment(log: Path) -> dict:
    """os.environ plus the offline settings and the network guard logging to ``log``."""
    from cookbook.hub import OFFLINE_ENV

    log.touch()
    env = dict(os.environ) | OFFLINE_ENV
    env["PYTHONPATH"] = os.pathsep.join([str(NETGUARD), str(ROOT), env.get("PYTHONPATH", "")])
    env["NETGUARD_LOG"] = str(log)
    env.update({name: API_KEY_CANARY for name in KEY_VARIABLES})
    return env


@pytest.fixture(scope="session")
def demo_run(world, tmp_path_factory):
    """Every notebook executed in order into one run directory, as `make demo` does,
    under the network guard. Returns (run_dir, netguard_log); notebook tests assert on
    what the notebooks recorded in run_dir/manifest.json."""
    tmp = tmp_path_factory.mktemp("demo")
    log = tmp / "netguard.log"
    run_dir = tmp / "run"
    result = subprocess.run(
        [sys.executable, "-m", "cookbook.notebooks", "--run-dir", str(run_dir)],
        env=guarded_environment(log), capture_output=True, text=True, timeout=5400, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return run_dir, log


@pytest.fixture
def guarded_env(tmp_path):
    """An environment for child processes: offline settings plus the network guard."""
    log = tmp_path / "netguard.log"
    return guarded_environment(log), log


@pytest.fixture
def python():
    return sys.executable


def pytest_ignore_collect(collection_path, config):
    """tests/test_notebook_NN_*.py run only while notebooks/NN_*.ipynb is in the demo.

    A notebook still being written lives in notebooks/wip/: neither `make demo` nor its
    tests run it.
    """
    name = collection_path.name
    if name.startswith("test_notebook_") and name[14:16].isdigit():
        return not any((ROOT / "notebooks").glob(f"{name[14:16]}_*.ipynb"))
    return None


WORLD_FIXTURES = {"world", "demo_run"}


def _xdist_group(item) -> str:
    """The pytest-xdist worker group of a test (`make test` runs two workers, `--dist loadgroup`).

    A session or module fixture is built once per worker that needs it, so the tests of the
    demo run share one group, each rehearsal's tests one, and every other module's tests one
    (its module fixtures, a JupyterLab server or a trained model, built once).
    """
    names = set(getattr(item, "fixturenames", ()))
    if "demo_run" in names:
        return "demo"
    if "rehearsal" in names:
        return f"rehearsal-{item.callspec.params['rehearsal']}"
    return item.nodeid.split("::")[0]


def _longest_first(item) -> int:
    """The demo run (about 23 minutes) and the two rehearsals (7-8 each) start first, one per
    worker, and the rest fills in beside them (xdist hands out groups in collection order)."""
    group = _xdist_group(item)
    return 0 if group == "demo" else 1 if group.startswith("rehearsal-") else 2


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the xdist_group marks
def pytest_collection_modifyitems(config, items):
    """Tests that need the tiny world are marked `world`: `make test-fast` leaves them out, so it
    builds nothing on a fresh clone. Every test gets its xdist group."""
    for item in items:
        if WORLD_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.world)
        item.add_marker(pytest.mark.xdist_group(_xdist_group(item)))
    items.sort(key=_longest_first)  # stable: each group keeps its order
