"""cookbook.notebooks renders every executed notebook to <run_dir>/html/, offline, also when it fails."""

import socket

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from cookbook.notebooks import execute, html_of


def _notebook(path, code):
    nbformat.write(new_notebook(cells=[new_markdown_cell("# A tiny notebook\n\nIt prints one line."),
                                       new_code_cell(code)],
                                metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                         "language": "python"},
                                          "language_info": {"name": "python"}}), path)
    return path


def test_each_executed_notebook_gets_its_html_rendering_with_the_output(tmp_path):
    nb = _notebook(tmp_path / "99_tiny.ipynb", 'print("hello from", "the tiny notebook")')
    out = execute(nb, "recipes/tiny.yaml", tmp_path / "run", timeout=120)
    html = tmp_path / "run" / "html" / "99_tiny.html"
    assert out == tmp_path / "run" / "notebooks" / "99_tiny.ipynb" and html.exists()
    page = html.read_text()
    assert "hello from the tiny notebook" in page and "A tiny notebook" in page
    assert "jp-Notebook" in page  # the 'lab' template, as JupyterLab shows it


def test_a_failed_notebook_is_rendered_too_up_to_its_error(tmp_path):
    nb = _notebook(tmp_path / "98_fails.ipynb", 'print("before the error")\nraise ValueError("stop here")')
    with pytest.raises(papermill.PapermillExecutionError):
        execute(nb, "recipes/tiny.yaml", tmp_path / "run", timeout=120)
    page = (tmp_path / "run" / "html" / "98_fails.html").read_text()
    assert "before the error" in page and "stop here" in page


def test_the_rendering_downloads_nothing_and_inlines_its_styles(monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("the HTML export tried the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    (tmp_path / "figure.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    nb = new_notebook(cells=[new_markdown_cell("# Offline\n\n![a figure](figure.png)"), new_code_cell("plot()")])
    nb.cells[1].outputs = [new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})]
    page = html_of(nb, "offline", tmp_path)
    assert '<img alt="a figure" src="data:image/png;base64,' in page  # the markdown image, inlined
    assert "data:image/png;base64,iVBORw0KGgo=" in page  # the plot, as it was
    assert "<style" in page and 'rel="stylesheet" href="http' not in page  # styles inline: readable offline
