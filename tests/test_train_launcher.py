"""The launcher's process handling, with a stand-in for ms-swift (fast, no training).

The stand-in is a module on PYTHONPATH that behaves like `swift sft` from the outside: it
appends logging.jsonl lines, writes checkpoint-N folders, and exits with a code.
"""

import json
import sys
import textwrap

import pytest

from cookbook.train.launcher import TrainingFailed, TrainJob, checkpoints, error_excerpt, launch, read_history

FAKE = textwrap.dedent('''
    import json, os, sys
    args = sys.argv[1:]
    def flag(name, default=None):
        return args[args.index(name) + 1] if name in args else default
    out = flag("--output_dir")
    steps = int(flag("--max_steps", "4"))
    crash_at = int(os.environ.get("FAKE_CRASH_AT", "0"))
    with open(os.path.join(out, "calls.jsonl"), "a") as f:
        f.write(json.dumps(args) + "\\n")
    print("an error in a log line does not make a run fail")
    start = 0
    resume = flag("--resume_from_checkpoint")
    if resume:
        start = int(resume.rsplit("-", 1)[1])
    for step in range(start + 1, steps + 1):
        if step == crash_at:
            raise RuntimeError(f"simulated crash at step {step}")
        with open(os.path.join(out, "logging.jsonl"), "a") as f:
            f.write(json.dumps({"loss": 1.0 / step, "global_step/max_steps": f"{step}/{steps}"}) + "\\n")
        ckpt = os.path.join(out, f"checkpoint-{step}")
        os.makedirs(ckpt, exist_ok=True)
        open(os.path.join(ckpt, "trainer_state.json"), "w").write("{}")
    last = os.path.join(out, f"checkpoint-{steps}")
    with open(os.path.join(out, "logging.jsonl"), "a") as f:
        f.write(json.dumps({"last_model_checkpoint": last}) + "\\n")
    sys.exit(int(os.environ.get("FAKE_EXIT", "0")))
''')


@pytest.fixture
def fake(tmp_path, monkeypatch):
    pkg = tmp_path / "fakeswift"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "sft.py").write_text(FAKE)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    data = tmp_path / "data.jsonl"
    data.write_text('{"x": 1}\n')

    def make(steps=4, out="out", **env):
        return TrainJob("sft", ["--dataset", str(data), "--output_dir", str(tmp_path / out), "--max_steps", str(steps)],
                        tmp_path / out, module="fakeswift.sft", env={k: str(v) for k, v in env.items()})
    return make


def calls(job):
    return [json.loads(line) for line in (job.output_dir / "calls.jsonl").read_text().splitlines()]


def test_success_returns_the_last_checkpoint_and_the_logged_values(fake):
    job = fake(steps=3)
    result = launch(job, progress=False)
    assert result.checkpoint == job.output_dir / "checkpoint-3"
    assert [h["step"] for h in result.history] == [1, 2, 3]
    assert result.history[-1]["loss"] == pytest.approx(1 / 3)
    assert not result.reused and result.resumed_from is None


def test_failure_carries_the_exit_code_and_the_real_error(fake):
    job = fake(steps=4, FAKE_CRASH_AT=2)
    with pytest.raises(TrainingFailed) as e:
        launch(job, progress=False)
    assert e.value.returncode == 1
    message = str(e.value)
    assert "exited with code 1" in message
    assert "RuntimeError: simulated crash at step 2" in message  # the traceback's own last line
    assert "Traceback (most recent call last)" in message
    assert "swift sft" in message  # the command, for a terminal


def test_exit_code_decides_not_the_word_error(fake):
    launch(fake(steps=2), progress=False)  # the stand-in prints "error" and exits 0: a success
    job = fake(steps=2, out="other", FAKE_EXIT=3)  # finishes every step but exits 3: a failure
    with pytest.raises(TrainingFailed) as e:
        launch(job, progress=False)
    assert e.value.returncode == 3


def test_interrupted_run_resumes_from_its_last_checkpoint(fake):
    with pytest.raises(TrainingFailed):
        launch(fake(steps=5, FAKE_CRASH_AT=4), progress=False)
    job = fake(steps=5)
    assert [p.name for p in checkpoints(job.output_dir)] == ["checkpoint-1", "checkpoint-2", "checkpoint-3"]
    result = launch(job, progress=False)
    assert result.resumed_from == job.output_dir / "checkpoint-3"
    assert calls(job)[-1][-2:] == ["--resume_from_checkpoint", str(job.output_dir / "checkpoint-3")]
    assert [h["step"] for h in result.history] == [1, 2, 3, 4, 5]


def test_incomplete_checkpoint_is_not_resumed_from(fake):
    job = fake(steps=3)
    job.output_dir.mkdir()
    (job.output_dir / "checkpoint-7").mkdir()  # killed while saving: no trainer_state.json
    assert checkpoints(job.output_dir) == []


def test_finished_job_is_reused_and_a_changed_one_starts_afresh(fake, capsys):
    job = fake(steps=2)
    launch(job, progress=False)
    again = launch(fake(steps=2), progress=False)
    assert again.reused and len(calls(job)) == 1
    changed = launch(fake(steps=3), progress=False)
    assert not changed.reused and changed.checkpoint.name == "checkpoint-3"
    assert len(calls(job)) == 1  # the old folder (and its calls.jsonl) was removed first
    assert "starting afresh" in capsys.readouterr().out


def test_progress_bar_follows_the_log(fake, capsys):
    launch(fake(steps=3), progress=True)
    out = capsys.readouterr().out
    assert "3/3" in out and "loss" in out


def test_two_processes_run_under_torchrun():
    job = TrainJob("sft", ["--model", "m"], "/tmp/x", nproc=2, env={"MASTER_PORT": "29999"})
    argv = job.argv()
    assert argv[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert argv[3:9] == ["--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port", "29999"]
    assert argv[9].endswith("swift/cli/sft.py") and argv[-2:] == ["--model", "m"]
    assert job.shell.startswith("NPROC_PER_NODE=2 swift sft --model m")
    assert TrainJob("rlhf", ["--a", "1"], "/tmp/x").argv() == [sys.executable, "-m", "swift.cli.rlhf", "--a", "1"]


def test_error_excerpt_without_traceback_shows_the_last_lines(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("\n".join(f"line {i}" for i in range(100)) + "\nprogress 1\rprogress 2\n")
    text = error_excerpt(log)
    assert text.splitlines()[-1] == "progress 2" and "line 50" not in text


def test_history_keeps_the_newest_value_of_a_repeated_step(tmp_path):
    rows = [{"loss": 3, "global_step/max_steps": "1/2"}, {"loss": 2, "global_step/max_steps": "2/2"},
            {"loss": 1, "global_step/max_steps": "2/2"}, {"train_runtime": 5, "global_step/max_steps": "2/2"}]
    (tmp_path / "logging.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"half')
    assert [(h["step"], h["loss"]) for h in read_history(tmp_path)] == [(1, 3), (2, 1)]


def test_deepspeed_and_several_machines_run_under_torchrun(monkeypatch):
    """DeepSpeed with one process used to start as plain python (MPI discovery then fails without
    mpi4py); a job across machines takes NNODES / NODE_RANK / MASTER_* from the scheduler."""
    one = TrainJob("sft", ["--model", "m", "--deepspeed", "zero3_offload"], "/tmp/x", env={"MASTER_PORT": "29999"})
    argv = one.argv()
    assert argv[2] == "torch.distributed.run" and argv[3:5] == ["--nproc_per_node", "1"]
    monkeypatch.setenv("NNODES", "2")
    monkeypatch.setenv("NODE_RANK", "1")
    job = TrainJob("sft", ["--model", "m"], "/tmp/x", nproc=4, env={"MASTER_ADDR": "10.0.0.7", "MASTER_PORT": "23456"})
    assert job.argv()[3:13] == ["--nproc_per_node", "4", "--nnodes", "2", "--node_rank", "1",
                                "--master_addr", "10.0.0.7", "--master_port", "23456"]
    one_process_each = TrainJob("sft", ["--model", "m"], "/tmp/x", env={"MASTER_PORT": "1"})
    assert one_process_each.argv()[2] == "torch.distributed.run"  # one GPU per node, two nodes
    monkeypatch.setenv("NNODES", "two")
    with pytest.raises(ValueError, match="NNODES='two'"):
        one_process_each.argv()


def test_the_shell_line_across_machines_names_this_node(monkeypatch):
    monkeypatch.setenv("NNODES", "2")
    monkeypatch.setenv("NODE_RANK", "1")
    monkeypatch.setenv("MASTER_ADDR", "10.0.0.7")
    monkeypatch.setenv("MASTER_PORT", "23456")
    line = TrainJob("sft", ["--model", "m"], "/tmp/x", nproc=8).shell
    assert line.startswith("NNODES=2 NODE_RANK=1 MASTER_ADDR=10.0.0.7 MASTER_PORT=23456 NPROC_PER_NODE=8 swift sft")
