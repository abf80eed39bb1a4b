"""The launcher with real ms-swift on CPU: two processes (DDP, as on several GPUs), and a
resume after a kill. A few steps of the tiny student each; about 2 minutes in all."""

import json
import signal
import subprocess
import sys
import time

import pytest

from cookbook.data.formats import write_sft
from cookbook.recipe import load_recipe
from cookbook.toy.prompts import chat_messages, think_response
from cookbook.train.args import sft_flags
from cookbook.train.launcher import TrainJob, checkpoints, launch

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
        run = recipe.sft.full.model_copy(update={"max_steps": steps, "per_device_train_batch_size": 4, "save_steps": save_steps,
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
    assert "world_size: 2" in log  # ms-swift logs from rank 0 only
    assert [h["step"] for h in result.history] == [1, 2, 3]
    # Two ranks of 4 rows each: 3 steps go through 24 of the 64 rows (one rank alone: 12).
    assert result.history[-1]["epoch"] == pytest.approx(3 * 4 * 2 / 64, abs=1e-3)
    assert (result.checkpoint / "model.safetensors").exists()
    state = json.loads((result.checkpoint / "trainer_state.json").read_text())
    assert state["global_step"] == 3


def test_resume_after_an_interruption(job_for, tmp_path):
    # Long enough (200 steps) that the interrupt lands mid-run on any machine: CI once finished
    # an 8-step run between two polls and the test saw no checkpoint to interrupt at.
    steps = 200
    job = job_for("resume", steps=steps, save_steps=5)
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({"subcommand": job.subcommand, "flags": job.flags, "output_dir": str(job.output_dir)}))
    # A first launch from another Python process, interrupted as the notebook's stop button
    # does (SIGINT -> KeyboardInterrupt) once its first checkpoint is complete.
    # SIGINT raises KeyboardInterrupt as in a kernel, also where this test inherited SIGINT ignored
    # (a shell's background job): Python keeps an inherited SIG_IGN.
    script = ("import json, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
              "from cookbook.train.launcher import TrainJob, launch; "
              "launch(TrainJob(**json.load(open(sys.argv[1]))), progress=False)")
    first = subprocess.Popen([sys.executable, "-c", script, str(spec)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    while not checkpoints(job.output_dir):
        assert first.poll() is None and time.time() < deadline, f"ended before a checkpoint: {first.stderr.read()}"
        time.sleep(0.05)
    first.send_signal(signal.SIGINT)
    assert first.wait(60) != 0 and "KeyboardInterrupt" in first.stderr.read()
    done = [p.name for p in checkpoints(job.output_dir)]
    time.sleep(3)
    assert [p.name for p in checkpoints(job.output_dir)] == done, "ms-swift kept running after the interrupt"
    assert done and f"checkpoint-{steps}" not in done
    # The same job again: it resumes from the newest complete checkpoint and finishes.
    result = launch(job, progress=False)
    assert result.resumed_from is not None and result.resumed_from.name == done[-1]
    state = json.loads((result.checkpoint / "trainer_state.json").read_text())
    assert state["global_step"] == steps and result.checkpoint.name == f"checkpoint-{steps}"
    assert [h["step"] for h in result.history] == list(range(1, steps + 1))
    # Steps up to the checkpoint were not trained again: the second launch logged only later ones.
    resumed_at = int(done[-1].split("-")[1])
    second = result.log.read_text().split("--resume_from_checkpoint")[-1]
    assert f"'global_step/max_steps': '{resumed_at}/{steps}'" not in second
    assert f"'global_step/max_steps': '{resumed_at + 1}/{steps}'" in second
