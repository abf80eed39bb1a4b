"""An interrupted evaluation resumes from evalscope's cache; a changed model or protocol starts afresh."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from cookbook.eval.candidates import Candidate
from cookbook.eval.protocol import BenchmarkPlan, Protocol
from cookbook.eval.results import summarise
from cookbook.eval.runner import Job, evaluate, prepare, run_dir_for, task_config


def protocol_for(world, limit: int, batch: int = 4) -> Protocol:
    plan = BenchmarkPlan("gsm8k", limit, 1, "{question}\nPlease reason step by step, and put your final answer "
                         "within \\boxed{}.", str(world.benchmark_dir("gsm8k")))
    return Protocol(profile="tiny", benchmarks=(plan,), temperature=0.6, top_p=0.95, max_tokens=320,
                    batch_size=batch, serve="checkpoint")


def candidate(world, name="teacher") -> Candidate:
    return Candidate(name=name, role="teacher", model=str(world.model_dir(name)), identity=f"test:{name}")


def predictions(job: Job) -> list[dict]:
    path = job.work_dir / "predictions" / job.candidate.name / "gsm8k_main.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ---- identity: what may be reused (no model runs) -------------------------------------------

def test_a_changed_protocol_or_model_starts_afresh_and_a_finished_run_is_skipped(tmp_path, world):
    proto = protocol_for(world, 8)
    cand = candidate(world)
    job = Job(cand, "gsm8k", run_dir_for(tmp_path, cand, "gsm8k"))
    todo, done = prepare([job], proto)
    assert todo == [job] and done == []
    job.report_file.parent.mkdir(parents=True)
    job.report_file.write_text("{}")  # as if evalscope had finished
    (job.work_dir / "predictions").mkdir()
    assert prepare([job], proto) == ([], [job])  # finished, same identity: not run again
    hotter = replace(proto, temperature=1.0)
    assert prepare([job], hotter) == ([job], [])
    assert not job.report_file.exists() and not (job.work_dir / "predictions").exists()  # wiped
    retrained = Job(replace(cand, identity="test:other"), "gsm8k", job.work_dir)
    job.report_file.parent.mkdir(parents=True)
    job.report_file.write_text("{}")
    assert prepare([retrained], hotter) == ([retrained], [])


def test_task_config_resumes_only_a_folder_evalscope_started(tmp_path, world):
    proto = protocol_for(world, 8)
    job = Job(candidate(world), "gsm8k", tmp_path / "teacher" / "gsm8k")
    cfg = task_config(job, proto)
    assert "use_cache" not in cfg
    assert cfg["eval_type"] == "llm_ckpt" and cfg["repeats"] == 1 and cfg["limit"] == 8
    assert cfg["eval_batch_size"] == 4
    assert cfg["dataset_args"]["gsm8k"]["local_path"] == str(world.benchmark_dir("gsm8k"))
    (job.work_dir / "configs").mkdir(parents=True)
    (job.work_dir / "configs" / "task_config.yaml").write_text("model_id: teacher\n")
    assert task_config(job, proto)["use_cache"] == str(job.work_dir)
    api = task_config(Job(Candidate("t", "teacher", "deepseek-r1", base_url="http://127.0.0.1:1/v1",
                                    api_key_env="SOME_KEY"), "gsm8k", job.work_dir), proto)
    assert api["eval_type"] == "openai_api" and api["api_url"] == "http://127.0.0.1:1/v1"
    assert "api_key" not in api  # the worker reads the key from the environment, never a file


# ---- resume after an interruption (evalscope runs) ------------------------------------------

@pytest.mark.slow
def test_a_killed_evaluation_resumes_from_evalscopes_cache(tmp_path, world):
    proto = protocol_for(world, 24, batch=4)  # six batches of four answers
    cand = candidate(world)
    job = Job(cand, "gsm8k", run_dir_for(tmp_path, cand, "gsm8k"))
    todo, _ = prepare([job], proto)
    spec = tmp_path / "jobs.json"
    spec.write_text(json.dumps({"jobs": [{"task": task_config(job, proto), "benchmark": "gsm8k", "model": cand.name,
                                          "api_key_env": None, "data_sha256": proto.plan("gsm8k").data_sha256()}]}))
    proc = subprocess.Popen([sys.executable, "-m", "cookbook.eval.runner", str(spec)], stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "first.log", "wb"), start_new_session=True)
    deadline = time.time() + 300
    while len(predictions(job)) < 4 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # as a lost machine would: no clean-up at all
    proc.wait()
    before = predictions(job)
    assert 4 <= len(before) < 24, "the worker was not interrupted mid-way"
    assert not job.report_file.exists()

    lines = []
    evaluate([cand], proto, tmp_path, log=lines.append)
    after = predictions(job)
    assert len({p["index"] for p in after}) == 24
    kept = {p["index"]: p["model_output"] for p in after}
    assert all(kept[p["index"]] == p["model_output"] for p in before)  # cached answers were not regenerated
    assert "resumed" in lines[-1]
    log = (tmp_path / "worker.log").read_text()
    assert f"got {len(before)} predictions, remaining {24 - len(before)}" in log
    result = summarise(job.work_dir, cand.name, "gsm8k")
    assert result.problems == 24 and result.mean == pytest.approx(result.score, abs=5e-5)  # our mean is evalscope's score

    lines.clear()
    evaluate([cand], proto, tmp_path, log=lines.append)  # finished: nothing runs
    assert lines == [f"{'teacher':<14} {'gsm8k':<9} cached (finished before)"]


def test_two_models_side_by_side_run_in_two_workers_and_answer_as_each_does_in_a_worker_of_its_own(tmp_path, world):
    # Greedy: at temperature 0.6 two runs of one model in workers of their own gave different answers
    # (measured: 2 of 8 the same), since evalscope's batches form as requests arrive (#15's determinism).
    proto = replace(protocol_for(world, 8, batch=8), temperature=0.0)
    cands = [candidate(world, "teacher"), candidate(world, "student-base")]
    lines = []
    together = evaluate(cands, proto, tmp_path / "together", log=lines.append, side_by_side=2)
    assert sorted(line.split()[0] for line in lines) == ["student-base", "teacher"]
    assert (tmp_path / "together" / "worker-lane1.log").exists() and (tmp_path / "together" / "worker-lane2.log").exists()
    for cand, job in zip(cands, together):
        # each alone, in a worker of its own: a lane scored the model it names, with the protocol's settings
        [alone] = evaluate([cand], proto, tmp_path / f"alone-{cand.name}", log=lambda _: None)
        answers = [{p["index"]: p["model_output"]["choices"][0]["message"]["content"] for p in predictions(j)}
                   for j in (alone, job)]
        assert len(answers[0]) == 8 and answers[0] == answers[1]
        assert summarise(job.work_dir, cand.name, "gsm8k").score == summarise(alone.work_dir, cand.name, "gsm8k").score


def test_lanes_keep_each_models_jobs_together_and_deal_models_out_in_turn(tmp_path, world):
    from cookbook.eval.runner import _lanes

    cands = [candidate(world, n) for n in ("teacher", "student-base")] + [
        Candidate(name=f"m{i}", role="student", model=f"/m{i}", identity=f"m{i}") for i in range(3)]
    jobs = [Job(c, b, tmp_path / c.name / b) for c in cands for b in ("gsm8k", "ifeval")]
    lanes = _lanes(jobs, 2)
    assert [[j.candidate.name for j in lane][::2] for lane in lanes] == [["teacher", "m0", "m2"], ["student-base", "m1"]]
    assert sorted(map(id, sum(lanes, []))) == sorted(map(id, jobs))
    assert _lanes(jobs[:2], 4) == [jobs[:2]]  # one model: one lane, however many are allowed
