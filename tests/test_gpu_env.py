"""The GPU environment resolves: constraints/gpu.txt is one set of versions pip installs together.

These tests ask the package index (nothing is installed), so they are marked ``network``,
which pyproject's addopts deselect: run them with ``make check-gpu-env`` (``pytest -m
network``; CI runs it after ``make test``). Measured on this project's 2-core machine: about
60 s, most of it pip downloading the wheels it cannot read metadata of separately (torch,
vLLM and the CUDA libraries, several GB from a nearby mirror).
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints" / "gpu.txt"
TOP = ("vllm", "torch", "transformers", "ms-swift", "evalscope", "deepspeed", "flash-attn")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict[str, str]:
    return {canonical(m[1]): m[2] for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==(\S+)", CONSTRAINTS.read_text(), re.M)}


def index_only_env(**extra: str) -> dict:
    """pip as a GPU machine runs it: the package index only, none of this machine's local wheels
    (its CPU torch would satisfy torch==2.13.0 and hide the CUDA build's dependencies) and none
    of its global pins."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PIP_FIND_LINKS", "PIP_CONSTRAINT", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX")}
    return env | {"PIP_CONFIG_FILE": os.devnull, **extra}


def dry_run(args: list[str], tmp_path: Path, **env: str) -> dict:
    report = tmp_path / "report.json"
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                             "--report", str(report), *args], cwd=ROOT, env=index_only_env(**env),
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return json.loads(report.read_text())


def test_the_constraints_pin_the_seven_that_must_agree():
    assert set(TOP) <= pins().keys()


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the GPU environment is Python 3.11 (environment.yml)")
def test_gpu_extra_resolves_with_the_constraints_to_exactly_the_pinned_set(tmp_path):
    report = dry_run(["-c", str(CONSTRAINTS), ".[gpu,dev]"], tmp_path)
    resolved = {canonical(x["metadata"]["name"]): x["metadata"]["version"] for x in report["install"]}
    resolved.pop("distill-cookbook")
    expected = pins()
    assert resolved["torch"] == expected["torch"] and "+cpu" not in resolved["torch"]  # the CUDA build
    assert "nvidia-cudnn-cu13" in resolved  # ... with its CUDA libraries
    unpinned = sorted(resolved.keys() - expected.keys())
    assert not unpinned, f"resolved but not pinned in {CONSTRAINTS.name}: {unpinned} (regenerate it)"
    assert {n: resolved[n] for n in resolved} == {n: expected[n] for n in resolved}


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the GPU environment is Python 3.11 (environment.yml)")
def test_flash_attn_sdist_metadata_asks_only_for_pinned_packages(tmp_path):
    """flash-attn ships only an sdist whose build needs torch and nvcc: its metadata is read without
    building the CUDA kernels (FLASH_ATTENTION_SKIP_CUDA_BUILD, this environment's own torch)."""
    pytest.importorskip("torch")
    report = dry_run(["--no-deps", "--no-build-isolation", f"flash-attn=={pins()['flash-attn']}"], tmp_path,
                     FLASH_ATTENTION_SKIP_CUDA_BUILD="TRUE")
    (item,) = report["install"]
    assert item["metadata"]["version"] == pins()["flash-attn"]
    wants = {canonical(re.split(r"[ ;<>=!~\[]", d, maxsplit=1)[0]) for d in item["metadata"].get("requires_dist", [])
             if "extra ==" not in d}
    assert wants and wants <= pins().keys(), wants - pins().keys()
