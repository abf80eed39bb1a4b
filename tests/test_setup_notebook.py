"""00_setup executed with papermill in the tiny profile, under the network guard."""

import json
import subprocess
import sys

import nbformat
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def executed(world, tmp_path_factory, request):
    from cookbook.hub import OFFLINE_ENV
    from tests.conftest import NETGUARD, ROOT

    import os

    tmp = tmp_path_factory.mktemp("setup")
    log = tmp / "netguard.log"
    log.touch()
    env = dict(os.environ) | OFFLINE_ENV | {
        "PYTHONPATH": os.pathsep.join([str(NETGUARD), str(ROOT)]),
        "NETGUARD_LOG": str(log),
    }
    run_dir = tmp / "run"
    result = subprocess.run(
        [sys.executable, "-m", "cookbook.notebooks", "--only", "00_setup", "--run-dir", str(run_dir)],
        env=env, capture_output=True, text=True, timeout=1800, cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return run_dir, log


def test_notebook_ran_without_errors_and_showed_the_teacher(executed):
    run_dir, _ = executed
    nb = nbformat.read(run_dir / "notebooks" / "00_setup.ipynb", as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = json.dumps(outputs)
    assert "&lt;think&gt;" in text or "<think>" in text  # the teacher's reasoning is shown
    assert "image/png" in text  # the accuracy chart is drawn


def test_manifest_records_the_measured_accuracies(executed, world):
    run_dir, _ = executed
    manifest = json.loads((run_dir / "manifest.json").read_text())
    setup = manifest["stages"]["setup"]
    assert manifest["profile"] == "tiny"
    assert setup["metrics"]["teacher_gsm8k_accuracy"] >= 0.90
    assert setup["metrics"]["student_gsm8k_accuracy"] <= 0.30
    assert setup["metrics"]["world"] == world.dir.name
    chart = run_dir / setup["outputs"]["chart"]["path"]
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    env = json.loads((run_dir / setup["outputs"]["environment"]["path"]).read_text())
    assert env["versions"]["ms-swift"].startswith("4.")


def test_nothing_left_loopback(executed):
    _, log = executed
    assert log.read_text() == ""
