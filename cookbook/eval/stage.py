"""Notebook 07 in a few calls: evaluate the run's models, write the report, record the stage.

    from cookbook.eval.stage import evaluate_run, write_and_record
    models = candidates_from_session(session)
    protocol = protocol_from_recipe(session.recipe)
    results = evaluate_run(session, models, protocol)        # resumes from evalscope's cache
    paths = write_and_record(session, results, models, protocol)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from cookbook.eval.candidates import Candidate
from cookbook.eval.protocol import Protocol
from cookbook.eval.results import BenchmarkResult, review_rows, summarise, tokenizer_counter
from cookbook.eval.runner import evaluate


def token_ruler(candidates: Sequence[Candidate]) -> Path:
    """The tokenizer every answer is counted with: the base student's (else the first local model's)."""
    for role in ("base", "distilled", "teacher"):
        for c in candidates:
            if c.role == role and not c.is_api:
                return Path(c.model)
    raise ValueError("no local model to take a tokenizer from")


def evaluate_run(session, candidates: Sequence[Candidate], protocol: Protocol,
                 log: Callable[[str], None] = print) -> list[BenchmarkResult]:
    """Run (or resume) every model x benchmark into <run>/eval/ and summarise each run."""
    out_dir = session.run.stage_dir("eval")
    shape = session.recipe.eval  # how the runs are laid out, which changes no score
    jobs = evaluate(candidates, protocol, out_dir, log=log, side_by_side=shape.side_by_side,
                    vllm_args=shape.vllm.serve_args(), isolate_scoring=shape.isolate_scoring)
    count = tokenizer_counter(token_ruler(candidates))
    results = [summarise(j.work_dir, j.candidate.name, j.benchmark, count) for j in jobs]
    check_scored(results, protocol)
    return results


class NotWhatWasPlanned(RuntimeError):
    """evalscope scored other problems, or another number of them, than the protocol asked for."""


def check_scored(results: Sequence[BenchmarkResult], protocol: Protocol) -> None:
    """Fail unless every run scored the planned number of problems and answers, every model of a
    benchmark the same problems, and a local benchmark the folder's current content."""
    now = {name: protocol.plan(name).data_sha256() for name in dict.fromkeys(r.benchmark for r in results)}
    for r in results:
        plan = protocol.plan(r.benchmark)
        where = f"{r.model} on {plan.pretty} ({Path(r.report_json).parents[2]})"
        expected = plan.expected_answers()
        if expected is not None and r.answers != expected:
            raise NotWhatWasPlanned(f"{where}: {r.answers} answers were scored, the protocol asks for {expected} "
                                    f"({plan.evalscope_limit()} problems x {plan.samples} samples"
                                    f"{' per level' if plan.name == 'math_500' else ''})")
        if r.answers != r.problems * plan.samples:
            raise NotWhatWasPlanned(f"{where}: {r.answers} answers to {r.problems} problems; "
                                    f"the protocol asks for {plan.samples} per problem")
        if plan.local_path and r.data_sha256 != now[r.benchmark]:
            raise NotWhatWasPlanned(f"{where}: scored data with sha256 {r.data_sha256}, but {plan.local_path} "
                                    f"now holds {now[r.benchmark]}: evaluate again")
    by_benchmark: dict[str, set[str]] = {}
    for r in results:
        by_benchmark.setdefault(r.benchmark, set()).add(r.problems_sha256)
    for bench, digests in by_benchmark.items():
        if len(digests) > 1:
            models = ", ".join(f"{r.model}: {r.first_problem!r}" for r in results if r.benchmark == bench)
            raise NotWhatWasPlanned(f"{bench}: the models were scored on different problems ({models})")


def write_and_record(session, results: Sequence[BenchmarkResult], candidates: Sequence[Candidate],
                     protocol: Protocol, server_check: dict | None = None) -> dict[str, Path]:
    """Write <run>/report/ and record the stage "eval" (outputs: report files; metrics: the scores,
    and the server check when there was one)."""
    from cookbook.eval.report import metrics, write_report

    paths = write_report(session.run.stage_dir("report"), results, candidates, protocol,
                         run_name=session.run.dir.name, server_check=server_check,
                         published=session.recipe.eval.published)
    inputs = {"protocol": protocol.to_dict(), "models": [c.to_dict() for c in candidates]}
    measured = metrics(results, candidates, protocol) | ({"server_check": server_check} if server_check else {})
    session.run.record("eval", paths, inputs=inputs, metrics=measured)
    return paths


def server_check(session, candidate: Candidate, protocol: Protocol, problems: int = 16,
                 log: Callable[[str], None] = print) -> dict:
    """Evaluate ``candidate`` through ``swift deploy`` (an OpenAI-compatible server) on the first
    ``problems`` GSM8K problems, and compare with its checkpoint's answers to the same problems."""
    plan = replace(protocol.plan("gsm8k"), limit=problems, samples=1)
    check = replace(protocol, benchmarks=(plan,), serve="swift", batch_size=min(protocol.batch_size, problems))
    served = replace(candidate, name=f"{candidate.name}-served")
    out_dir = session.run.stage_dir("eval") / "server-check"
    job = evaluate([served], check, out_dir, log=log)[0]
    api = summarise(job.work_dir, served.name, "gsm8k")
    ckpt_dir = session.run.stage_dir("eval") / candidate.name / "gsm8k"
    first = [r for r in review_rows(ckpt_dir, candidate.name, "gsm8k")
             if r["problem"][1] is not None and r["problem"][1] < problems]
    ckpt = sum(r["value"] for r in first) / len(first) if first else None
    return {"model": candidate.name, "problems": problems, "served": api.score, "checkpoint": ckpt,
            "concurrency": check.batch_size}
