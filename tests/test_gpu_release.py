"""The GPU memory a kernel held for a model is released before any server or trainer starts (CPU)."""

import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from cookbook import jobs, procs
from cookbook.kd import trainer
from cookbook.teacher.server import swift_deploy, vllm_serve


class Stop(Exception):
    pass


@pytest.fixture
def calls(monkeypatch):
    """The order of release_gpu and child starts (Popen), with nothing actually started."""
    order = []
    monkeypatch.setattr(procs, "release_gpu", lambda *objects, **kw: order.append("release"))

    def popen(argv, **kw):
        order.append(("start", Path(argv[0]).name))
        raise Stop  # the command line was built and handed over: enough

    monkeypatch.setattr(subprocess, "Popen", popen)
    return order


@pytest.mark.parametrize("server", [vllm_serve, swift_deploy])
def test_a_teacher_server_starts_after_the_release(calls, tmp_path, server):
    with pytest.raises(Stop):
        server(tmp_path / "model", log_path=tmp_path / "server.log").start()
    assert calls[0] == "release" and calls[1][0] == "start"


def test_a_training_job_starts_after_the_release(calls, tmp_path):
    """jobs.run_logged: ms-swift's sft / rlhf (GKD) via the launcher, and torchrun's offline KD."""
    with pytest.raises(Stop):
        jobs.run_logged([sys.executable, "-m", "swift.cli.rlhf"], tmp_path / "log.txt", env={}, cwd=tmp_path)
    assert calls == ["release", ("start", Path(sys.executable).name)]


def test_offline_kd_in_the_kernel_trains_after_the_release(calls, monkeypatch, tmp_path):
    """One process: the trainer runs in the kernel itself, so the release comes before train()."""
    job = types.SimpleNamespace(output_dir=str(tmp_path), nproc=1, to_dict=lambda: {}, fingerprint=lambda: "fp")
    monkeypatch.setattr(trainer, "train", lambda j: calls.append("train"))
    monkeypatch.setattr(trainer.jobs, "run_resumable", lambda out, fp, label, run: types.SimpleNamespace(
        result=run(None), seconds=0.0, reused=False))
    monkeypatch.setattr(trainer.jobs, "use_torchrun", lambda nproc, *a, **k: False)
    trainer.run_offline_kd(job)
    assert calls == ["release", "train"]


def test_release_empties_what_it_is_given_and_is_free_without_cuda():
    model = torch.nn.Linear(4, 4)
    kept = {"teacher": model, "other": [torch.nn.Linear(2, 2)]}
    assert procs.release_gpu(kept) is None  # CUDA never initialised here: nothing to hand back
    assert model.weight.device.type == "meta" and kept == {}  # emptied although `model` still names it


def test_release_collects_then_empties_the_cache_and_says_so(monkeypatch):
    """With CUDA in use (simulated): gc first (a model loaded in a function is garbage, maybe
    in a cycle), then the allocator's cache; the report says what was freed and what is still held."""
    order, reserved = [], iter([8 * 2**30, 2**30, 2**30])
    fake = types.SimpleNamespace(is_initialized=lambda: True, memory_reserved=lambda: next(reserved),
                                 memory_allocated=lambda: 2**29, empty_cache=lambda: order.append("empty_cache"))
    monkeypatch.setattr(torch, "cuda", fake)
    monkeypatch.setattr(procs.gc, "collect", lambda: order.append("gc"))
    said = []
    report = procs.release_gpu(say=said.append)
    assert order == ["gc", "empty_cache"]
    assert report == {"freed_bytes": 7 * 2**30, "reserved_bytes": 2**30, "allocated_bytes": 2**29}
    assert "released 7.00 GiB" in said[0] and "0.50 GiB is still in use" in said[0]


def test_the_vllm_teacher_pass_releases_before_its_engine_and_after(monkeypatch, tmp_path):
    """vLLM in the kernel sizes its share from the memory free when it starts: the release comes
    first (the top-k plot's teacher), and again once the engine is done (the trainer's turn)."""
    from cookbook.kd import teacher_pass

    order = []
    monkeypatch.setattr(teacher_pass, "release_gpu", lambda *objects, **kw: order.append("release"))
    fake = types.ModuleType("vllm")
    fake.LLM = lambda **kw: order.append("engine") or types.SimpleNamespace(generate=None)
    fake.SamplingParams = lambda **kw: None
    inputs = types.ModuleType("vllm.inputs")
    inputs.TokensPrompt = dict
    monkeypatch.setitem(sys.modules, "vllm", fake)
    monkeypatch.setitem(sys.modules, "vllm.inputs", inputs)
    teacher_pass._vllm_pass(tmp_path, [], writer=None, k=10, temperature=1.0, vocab=100, engine_kwargs={})
    assert order == ["release", "engine", "release"]
