"""The launcher with real ms-swift on CPU: two processes (DDP, as on several GPUs), and a
resume after a kill. A few steps of the tiny student each; about 2 minutes in all."""

import json
import os
import signal
import subprocess
import time

import pytest

from cookbook.data.formats import write_sft
from cookbook.recipe import load_recipe
from cookbook.toy.prompts import chat_messages, think_response
from cookbook.train.args import sft_flags
from cookbook.train.launcher import TrainJob, _env, checkpoints, launch

pytestmark = pytest.mark.slow


@pytest.fixture
def job_for(world, tmp_path, guarded_env, monkeypatch):
    env, log = guarded_env
    for key in ("PYTHONPATH", "NETGUARD_LOG"):  # ms-swift's processes run under the network guard
        monkeypatch.setenv(key, env[key])
    rows = [{"messages": chat_messages(p.question)
             + [{"role": "assistant", "content": think_response(p.digit_cot, p.answer)}]}
            for p in world.problems("gsm8k_train")[:64]]
    data = write_sft(tmp_path / "sft.jsonl", rows).path
    recipe = load_recipe("recipes/tiny.yaml")

    def make(name, steps, nproc=1, save_steps=100):
        run = recipe.sft.full.model_copy(update={"max_steps": steps, "batch_size": 4, "save_steps": save_steps,
                                                 "logging_steps": 1})
        shared = recipe.train.model_copy(update={"nproc": nproc, "swanlab": "disabled"})
        flags = sft_flags(run, shared, model=world.model_dir("student-base"), dataset=data,
                          output_dir=tmp_path / name, seed=1, name=name)
        return TrainJob("sft", flags, tmp_path / name, nproc=nproc)
    yield make
    assert log.read_text() == "", "a training process tried to leave loopback"


def test_two_processes_on_cpu(job_for):
    job = job_for("ddp", steps=3, nproc=2)
    assert job.shell.startswith("NPROC_PER_NODE=2 swift sft")
    result = launch(job, progress=False)
    log = result.log.read_text()
    assert "world_size: 2" in log and "rank: 1" in log  # two ranks really trained
    assert [h["step"] for h in result.history] == [1, 2, 3]
    assert (result.checkpoint / "model.safetensors").exists()
    state = json.loads((result.checkpoint / "trainer_state.json").read_text())
    assert state["global_step"] == 3


def test_resume_after_a_kill(job_for):
    job = job_for("resume", steps=8, save_steps=2)
    job.output_dir.mkdir(parents=True)
    # A first launch, killed as a crash or a stop button would, once checkpoint-4 exists.
    proc = subprocess.Popen(job.argv(), env=_env(job), cwd=job.output_dir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 600
    while not any(p.name == "checkpoint-4" for p in checkpoints(job.output_dir)):
        assert proc.poll() is None and time.time() < deadline, "ms-swift ended before checkpoint-4"
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = [p.name for p in checkpoints(job.output_dir)]
    assert "checkpoint-8" not in done
    # The same job again: it resumes from the newest complete checkpoint and finishes.
    result = launch(job, progress=False)
    assert result.resumed_from is not None and result.resumed_from.name == done[-1]
    assert "--resume_from_checkpoint" in result.log.read_text()
    state = json.loads((result.checkpoint / "trainer_state.json").read_text())
    assert state["global_step"] == 8
    resumed_at = int(done[-1].split("-")[1])
    assert [h["step"] for h in result.history] == list(range(1, 9))
    # Steps before the checkpoint were not trained again: the second launch logged only later ones.
    second = result.log.read_text().split("--resume_from_checkpoint")[1]
    assert f"'global_step/max_steps': '{resumed_at}/8'" not in second
    assert f"'global_step/max_steps': '{resumed_at + 1}/8'" in second
