"""Run evalscope for a list of models and benchmarks, resumably, in a worker process.

Each (model, benchmark) pair is one evalscope run in its own folder,
``<out_dir>/<model>/<benchmark>/`` (evalscope's predictions/, reviews/, reports/, logs/).
evalscope appends every answer to its predictions file as soon as it has it, so an
interrupted evaluation loses little: the next call passes that folder as ``use_cache``
and evalscope generates only the answers that are missing. A folder whose model or
protocol changed is started afresh (``identity.json`` records both), and a finished one
is not run again at all.

evalscope runs in worker processes (``python -m cookbook.eval.runner JOBS.json``), one at a
time or ``eval.side_by_side`` at once: their logging set-up and progress bars stay out of the
notebook (they go to ``<out_dir>/worker.log``, or ``worker-lane<N>.log`` with several side by
side), and the notebook shows one line per finished run. Local models run as checkpoints
(``eval_type='llm_ckpt'``, batched) or, with ``serve='swift'`` or ``'vllm'``, behind a local
OpenAI-compatible server each; API models (``openai_api``) are sent ``batch_size`` requests at
a time.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from cookbook import procs
from cookbook.eval.candidates import Candidate
from cookbook.eval.protocol import Protocol
from cookbook.io import atomic_write_json
from cookbook.serving import chat_template_kwargs, swift_thinking_args

PROGRESS = "@@progress "


@dataclass(frozen=True)
class Job:
    candidate: Candidate
    benchmark: str
    work_dir: Path

    @property
    def report_file(self) -> Path:
        return self.work_dir / "reports" / self.candidate.name / f"{self.benchmark}.json"


def run_dir_for(out_dir: Path, candidate: Candidate, benchmark: str) -> Path:
    return Path(out_dir) / candidate.name / benchmark


def identity(candidate: Candidate, protocol: Protocol, benchmark: str) -> dict:
    """What the cached answers of one run depend on."""
    plan = protocol.plan(benchmark)
    out = {
        "model": candidate.identity or candidate.model,
        "api": candidate.base_url is not None,
        "benchmark": dict(plan.__dict__),
        "generation": protocol.generation_config(),
        "dataset_hub": protocol.dataset_hub,
        "data_sha256": plan.data_sha256(),  # answers to other problems at the same path do not count
    }
    serving = serving_identity(candidate, protocol)
    return out | {"serving": serving} if serving else out  # none: the same identity as before it existed


def serving_identity(candidate: Candidate, protocol: Protocol) -> dict:
    """What the answers depend on in how a model is served: its thinking mode, and under vLLM its
    reasoning parser (what it moves out of the answer is not scored)."""
    out = {}
    if candidate.thinking is not None:
        out["thinking"] = candidate.thinking
    if protocol.serve == "vllm" and not candidate.is_api:
        out["reasoning_parser"] = candidate.reasoning_parser
    return out


def prepare(jobs: Sequence[Job], protocol: Protocol) -> tuple[list[Job], list[Job]]:
    """Split jobs into (to run, already finished); start afresh those whose identity changed."""
    todo, done = [], []
    for job in jobs:
        want = identity(job.candidate, protocol, job.benchmark)
        id_file = job.work_dir / "identity.json"
        have = json.loads(id_file.read_text()) if id_file.exists() else None
        if have != want and job.work_dir.exists():
            shutil.rmtree(job.work_dir)  # another model or protocol: its answers do not count
        if have == want and job.report_file.exists():
            done.append(job)
            continue
        atomic_write_json(id_file, want)
        todo.append(job)
    return todo, done


def task_config(job: Job, protocol: Protocol, api_url: str | None = None) -> dict:
    """evalscope TaskConfig arguments for one job (no secrets: the worker reads the key)."""
    plan = protocol.plan(job.benchmark)
    cand = job.candidate
    cfg = {
        "model_id": cand.name,
        "datasets": [job.benchmark],
        "dataset_args": {job.benchmark: plan.dataset_args()},
        "generation_config": protocol.generation_config(),
        "repeats": plan.samples,
        "limit": plan.evalscope_limit(),
        # A batch that holds every answer starts at once; a partial one waits for evalscope's 2 s queue timeout.
        "eval_batch_size": min(protocol.batch_size, plan.expected_answers() or protocol.batch_size),
        "work_dir": str(job.work_dir),
        "no_timestamp": True,
        "seed": protocol.seed,
    }
    if (job.work_dir / "configs" / "task_config.yaml").exists():
        cfg["use_cache"] = str(job.work_dir)  # resume: evalscope reuses the answers it has
    if not plan.local_path:
        cfg["dataset_hub"] = protocol.dataset_hub
        if protocol.dataset_dir:
            cfg["dataset_dir"] = protocol.dataset_dir
    url = api_url or cand.base_url
    if url:
        cfg |= {"eval_type": "openai_api", "model": cand.model if not api_url else "served", "api_url": url}
        if cand.thinking is not None:
            # evalscope sends extra_body as it is (models/utils/openai.py); vLLM and swift deploy
            # pass a request's chat_template_kwargs to the chat template.
            cfg["generation_config"] = {**cfg["generation_config"],
                                        "extra_body": {"chat_template_kwargs": chat_template_kwargs(cand.thinking)}}
    else:
        import torch

        precision = "torch.bfloat16" if torch.cuda.is_available() else "torch.float32"  # fp16 crawls on a CPU
        cfg |= {"eval_type": "llm_ckpt", "model": cand.model, "model_args": {"precision": precision}}
        if cand.thinking is not None:  # evalscope's checkpoint model passes model_args.enable_thinking to the template
            cfg["model_args"] |= chat_template_kwargs(cand.thinking)
    return cfg


def evaluate(candidates: Sequence[Candidate], protocol: Protocol, out_dir: str | Path,
             log: Callable[[str], None] = print, side_by_side: int = 1, vllm_args: Sequence[str] = (),
             isolate_scoring: bool = True) -> list[Job]:
    """Evaluate every candidate on every benchmark of the protocol; returns all jobs (done now or before).

    ``side_by_side``: models evaluated at once (the recipe's eval.side_by_side), each served model
    with its own server, checkpoints and API models split over as many worker processes;
    ``vllm_args``: each vllm serve's size (eval.vllm); ``isolate_scoring``: eval.isolate_scoring.
    None of them is part of the protocol: they change no answer and no score."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [Job(c, b, run_dir_for(out_dir, c, b)) for c in candidates for b in protocol.names]
    todo, done = prepare(jobs, protocol)
    for job in done:
        log(f"{job.candidate.name:<14} {job.benchmark:<9} cached (finished before)")
    if "ifeval" in {j.benchmark for j in todo}:
        from cookbook.eval.punkt import ensure_ifeval_ready

        ensure_ifeval_ready()  # fail here, with what to do, rather than half-way through
    direct = [j for j in todo if j.candidate.is_api or protocol.serve == "checkpoint"]
    served = [j for j in todo if j not in direct]
    lanes = _lanes(direct, side_by_side)  # checkpoints and API models: one worker process per lane

    running: list = []  # the worker processes of every lane and server, stopped together on an interrupt
    worker_args = {"log": log, "running": running, "isolate_scoring": isolate_scoring}

    def score_lane(i: int) -> None:
        _run_worker(lanes[i], protocol, out_dir, name=f"lane{i + 1}" if len(lanes) > 1 else None, **worker_args)

    def serve_and_score(cand: Candidate) -> None:
        with ExitStack() as stack:
            server = stack.enter_context(server_for(cand, protocol, out_dir, vllm_args))
            mine = [j for j in served if j.candidate == cand]
            _run_worker(mine, protocol, out_dir, api_url=server.base_url, name=cand.name, **worker_args)

    tasks = [(score_lane, i) for i in range(len(lanes))]
    tasks += [(serve_and_score, c) for c in dict.fromkeys(j.candidate for j in served)]
    if side_by_side == 1:  # one at a time: on a GPU each server or checkpoint takes the GPU's memory
        for run, arg in tasks:
            run(arg)
    else:  # side by side: on a CPU each worker uses one core; while one server starts, another answers
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=side_by_side) as pool:
            try:
                for finished in [pool.submit(run, arg) for run, arg in tasks]:
                    finished.result()
            except BaseException:  # a notebook's stop button reaches this thread only: stop the others' workers
                pool.shutdown(cancel_futures=True, wait=False)
                for proc in list(running):
                    procs.stop(proc, grace=10)
                raise
    return jobs


def _lanes(jobs: list[Job], n: int) -> list[list[Job]]:
    """Jobs in at most n lanes, each model's jobs in one lane, models dealt out in turn (a worker
    process per lane loads evalscope once; the toy models' jobs take about equal time)."""
    lane_of = {c: i % n for i, c in enumerate(dict.fromkeys(j.candidate for j in jobs))}
    return [[j for j in jobs if lane_of[j.candidate] == i] for i in range(min(n, len(lane_of)))]


def server_for(candidate: Candidate, protocol: Protocol, out_dir: Path, vllm_args: Sequence[str] = ()):
    """The server of one local candidate, as its serving facts say (cookbook.serving, Candidate)."""
    from cookbook.teacher.server import swift_deploy, vllm_serve

    log_path = out_dir / candidate.name / "server.log"
    if protocol.serve == "vllm":
        # The parser follows the model: none for a plain instruct base student, whose answer has no </think>.
        return vllm_serve(candidate.model, model_name="served", log_path=log_path, extra_args=vllm_args,
                          reasoning_parser=candidate.reasoning_parser)
    # A local folder needs the recipe's model_type and template; without them, swift_deploy's
    # defaults (the tiny world's qwen2 / qwen2_5).
    names = ({"model_type": candidate.model_type, "template": candidate.template}
             if candidate.model_type or candidate.template else {})
    # max_batch_size: concurrent requests are generated together (ms-swift's default, 1, serves them one by one).
    server = swift_deploy(candidate.model, model_name="served", log_path=log_path,
                          max_batch_size=protocol.batch_size, extra_args=swift_thinking_args(candidate.thinking),
                          **names)
    import torch

    if not torch.cuda.is_available():  # one thread, as in the worker (see worker())
        server.env = {**(server.env or {}), "OMP_NUM_THREADS": os.environ.get("DISTILL_EVAL_THREADS", "1")}
    return server


def _run_worker(jobs: list[Job], protocol: Protocol, out_dir: Path, log: Callable[[str], None],
                api_url: str | None = None, name: str | None = None, running: list | None = None,
                isolate_scoring: bool = True) -> None:
    spec = out_dir / (f"jobs-{name}.json" if name else "jobs.json")  # one file per worker running at once
    data = {b: protocol.plan(b).data_sha256() for b in dict.fromkeys(j.benchmark for j in jobs)}
    atomic_write_json(spec, {"jobs": [{"task": task_config(job, protocol, api_url), "benchmark": job.benchmark,
                                       "model": job.candidate.name, "api_key_env": job.candidate.api_key_env,
                                       "data_sha256": data[job.benchmark]} for job in jobs],
                             "isolate_scoring": isolate_scoring})
    log_file = out_dir / (f"worker-{name}.log" if name else "worker.log")
    proc = procs.start([sys.executable, "-m", "cookbook.eval.runner", str(spec)], log_path=log_file,
                       stdout=subprocess.PIPE)
    if running is not None:
        running.append(proc)
    try:
        for line in proc.stdout:
            if line.startswith(PROGRESS):
                event = json.loads(line[len(PROGRESS):])
                if event["event"] == "done":
                    log(_describe(event))
        code = procs.wait(proc, poll=0.1)
    except BaseException:  # interrupted (a notebook's stop button): stop the worker, keep its cache
        procs.stop(proc, grace=10)
        raise
    if code != 0:
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-25:])
        raise RuntimeError(f"the evaluation worker failed (exit code {code}); last lines of {log_file}:\n{tail}")


def _describe(p: dict) -> str:
    return (f"{p['model']:<14} {p['benchmark']:<9} {p['score']:6.1%}  "
            f"({p['samples']} answers, {p['seconds']:.0f} s{', resumed' if p.get('resumed') else ''})")


# ---- the worker process ------------------------------------------------------------------

def worker(spec_path: str) -> int:
    progress = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever evalscope prints goes to the log, not into our progress stream
    sys.stdout = sys.stderr
    spec = json.loads(Path(spec_path).read_text())
    import torch

    if not torch.cuda.is_available():
        # One thread: small checkpoints gain nothing from more, and on a shared CPU two
        # spinning OpenMP threads made the same generate() 3 to 30 times slower (measured).
        torch.set_num_threads(int(os.environ.get("DISTILL_EVAL_THREADS", "1")))
    import datasets
    from evalscope import TaskConfig, run_task

    from cookbook.eval.candidates import api_key

    # Frozen: the collector no longer walks the imported modules' objects, nor do evalscope's forked
    # scoring children copy them on write.
    gc.freeze()
    if not spec.get("isolate_scoring", True):
        # evalscope 1.14 runs each math-verify call in a child forked from this process, under a deadline
        # (evalscope.metrics.math.isolation); with torch and the model loaded, the fork costs more than the
        # scoring: 100 toy answers took 14-18 s with it and 8 s in-process (measured on 2 cores). In-process
        # has no deadline, so a recipe turns it off only for short answers (eval.isolate_scoring).
        import evalscope.metrics.math.parser as math_parser

        if not callable(getattr(math_parser, "isolation_available", None)):  # a renamed hook would do nothing
            raise RuntimeError("eval.isolate_scoring: false needs evalscope.metrics.math.parser.isolation_available "
                               "(evalscope 1.14); this evalscope has none: set it true")
        math_parser.isolation_available = lambda: False

    shared_cache = datasets.config.HF_DATASETS_CACHE
    for job in spec["jobs"]:
        # evalscope reads a local folder with datasets.load_dataset(folder), which caches the
        # parsed Arrow copy under <HF_DATASETS_CACHE>/<folder name>/<config>/0.0.0/<hash>,
        # where <hash> follows the README's file patterns, not the folder's location or content
        # (measured: a second gsm8k/ folder of the same layout was scored on the first one's
        # problems). evalscope passes no cache_dir for local folders and datasets reads
        # config.HF_DATASETS_CACHE at each load, so each local folder gets a cache of its own,
        # keyed by its content, inside the user's datasets cache.
        local = job.get("data_sha256")
        datasets.config.HF_DATASETS_CACHE = (shared_cache / "by-content" / local[:16]) if local else shared_cache
        if job["benchmark"] == "ifeval":
            from cookbook.eval.punkt import ensure_ifeval_ready

            ensure_ifeval_ready()
        task = dict(job["task"])
        if task.get("eval_type") == "openai_api":
            task["api_key"] = api_key(Candidate(name=job["model"], role="", model="", api_key_env=job["api_key_env"]))
        emit = {"model": job["model"], "benchmark": job["benchmark"]}
        print(PROGRESS + json.dumps(emit | {"event": "start"}), file=progress)
        t0 = time.time()
        reports = run_task(TaskConfig(**task))
        report = reports[job["benchmark"]]
        print(PROGRESS + json.dumps(emit | {
            "event": "done", "score": report.metrics[0].score, "samples": report.metrics[0].num,
            "seconds": time.time() - t0, "resumed": "use_cache" in task,
        }), file=progress)
    return 0


if __name__ == "__main__":
    sys.exit(worker(sys.argv[1]))
