"""evalscope's dashboard on a run's evaluation: every answer, its score and the comparisons, in a browser.

evalscope 1.14 serves it with ``evalscope service`` (a Flask server and a React page; the
``evalscope app`` of the tutorial, once a Gradio app, is now a deprecated alias of it). It
lists ``<outputs>/<run>/reports/<model>/`` folders, one level deep, where the cookbook keeps
one evalscope run per model and benchmark (``eval/<model>/<benchmark>/``): :func:`prepare`
lays them side by side in ``eval/dashboard/<model>--<benchmark>/``, as hard links (no bytes
copied; the dashboard refuses symbolic links that lead out of its folder).

Nothing here starts by itself. Notebook 07 prints the command (:func:`instructions`); the
server binds to loopback, since it can also delete reports and start evaluations.

On PAI-DSW the notebook server's proxy path (``/<JUPYTER_NAME>/proxy/<port>/``) is where a
port is reached from the browser, but evalscope 1.14's page names its scripts and its API
from the site root (``/assets/...``, ``/api/v1/...``, read from its ``web/dist``), outside that
path: there the page stays empty. evalscope's static HTML report, which 07 writes into the
report folder, opens anywhere, PAI-DSW's JupyterLab included.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from cookbook import procs
from cookbook.teacher.server import NO_PROXY, LocalServer

DEFAULT_PORT = 9000  # evalscope's own default
_KEPT = ("reports", "predictions", "reviews", "configs")  # what the dashboard reads of a run


def prepare(eval_dir: str | Path) -> Path:
    """``eval_dir/dashboard/``: each ``<model>/<benchmark>/`` run of ``eval_dir`` as one dashboard run.

    Rebuilt each time (a re-evaluated model replaces its files); files are hard links, or
    copies where the file system has none.
    """
    eval_dir = Path(eval_dir)
    folder = eval_dir / "dashboard"
    tmp = folder.with_name(folder.name + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for reports in sorted(eval_dir.glob("*/*/reports")):
        run = reports.parent  # <model>/<benchmark>/ (the server check's runs lie a level deeper)
        if run.parent.name == folder.name:
            continue  # the last dashboard's own runs
        for part in _KEPT:
            if (run / part).is_dir():
                shutil.copytree(run / part, tmp / f"{run.parent.name}--{run.name}" / part, copy_function=_link)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def _link(src, dst):
    try:
        os.link(src, dst)
    except OSError:  # another file system, or none that links: a copy
        shutil.copy2(src, dst)


def command(folder: str | Path, port: int = DEFAULT_PORT) -> list[str]:
    """The ``evalscope service`` command line that serves ``folder`` on loopback."""
    evalscope = Path(sys.executable).with_name("evalscope")
    return [str(evalscope) if evalscope.exists() else "evalscope", "service", "--host", procs.HOST,
            "--port", str(port), "--outputs", str(Path(folder).resolve())]


def url(port: int = DEFAULT_PORT, environ=os.environ) -> str:
    """Where the browser finds the dashboard: loopback, or PAI-DSW's proxy path (see the module's note)."""
    name = environ.get("JUPYTER_NAME")
    return f"/{name}/proxy/{port}/" if name else f"http://{procs.HOST}:{port}/"


def instructions(folder: str | Path, port: int = DEFAULT_PORT, environ=os.environ) -> str:
    """What to run in a terminal, and where to look, as 07 prints it."""
    lines = [" ".join(command(folder, port)), f"then open {url(port, environ)}"]
    if environ.get("JUPYTER_NAME"):
        lines.append("(PAI-DSW: evalscope 1.14's page loads its scripts from the site root, outside this proxy "
                     "path, and stays empty there; open the report folder's evalscope HTML report instead)")
    return "\n".join(lines)


class Dashboard(LocalServer):
    """``evalscope service`` on loopback, started, awaited and stopped as the teacher's local
    servers are (cookbook.teacher.server), ready once its ``/health`` answers. For tests and for
    readers who prefer a cell to a terminal; 07 does not start it.

        with Dashboard(folder) as server:
            ...  # server.base_url
    """

    def __init__(self, folder: str | Path, port: int | None = None, ready_timeout: float = 60.0):
        port = port or procs.free_port()
        super().__init__(command(folder, port), port, "evalscope service", log_path=Path(folder) / "dashboard.log",
                         ready_timeout=ready_timeout)

    @property
    def base_url(self) -> str:
        return f"http://{procs.HOST}:{self.port}"

    def _serves_model(self) -> bool:  # a teacher server lists its model at /v1/models; this one has /health
        try:
            with NO_PROXY.open(f"{self.base_url}/health", timeout=2) as reply:
                return reply.status == 200
        except OSError:  # refused, reset or timed out: not up yet
            return False
