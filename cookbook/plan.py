"""The plan view: every command a recipe will run, notebook by notebook, and each stage's GPU memory.

    python -m cookbook.plan --recipe recipes/workshop.yaml [--run-dir runs/workshop]

Nothing runs, nothing is downloaded, nothing is written. Each command is built by the very
function the notebook calls (``cookbook.train.stage.sft_command``, ``cookbook.kd.gkd.gkd_command``,
``cookbook.eval.runner.server_for`` and ``task_config``, ...), given the paths the earlier
stages will write (cookbook.run.OUTPUTS), so what is printed is what will run, with two
differences only a run can fill in: ``checkpoint-<last>`` (the checkpoint a training ends
on) and the dataset file, which the launcher hands ms-swift through a link named by its
content (cookbook.train.launcher.content_named_data). A model not yet downloaded is named by
its hub id; a free port is picked for each server and single-node torchrun as it starts.

Under torchrun each command is shown once per node: the scheduler's ``NNODES`` (and
``MASTER_ADDR`` / ``MASTER_PORT``) in this environment give the nodes; node N's line is
what runs there with ``NODE_RANK=N``.

Each stage's GPU memory comes from cookbook.memory (its docstring has the formula and the
published measurements it is checked against). A stage whose estimate exceeds the recipe's
``gpus.memory_gb`` (or that asks for more GPUs than ``gpus.count``) is printed on a line that
starts with ``FLAG``, and the exit status is then 1: a script can stop before anything runs.
A recipe without ``gpus`` (CPU) gets its estimates and no check.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cookbook import jobs, memory
from cookbook.hub import planned_model
from cookbook.memory import Estimate, GiB, Training, estimate_inference, estimate_training, estimate_vllm, shape_of
from cookbook.paths import resolve
from cookbook.procs import hide_secrets
from cookbook.recipe import Recipe, load_recipe
from cookbook.run import OUTPUTS, PRODUCED_BY
from cookbook.session import Session

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


class PlannedRun:
    """A run directory as the plan sees it: nothing is created, and an earlier stage's output
    is the path that stage will record (cookbook.run.OUTPUTS)."""

    def __init__(self, run_dir: str | Path, recipe: Recipe):
        self.dir = resolve(run_dir)
        # The manifest as it will be once every stage ran: its models are 07's candidates.
        self.manifest = {"stages": {stage: {"outputs": {name: {"path": OUTPUTS[stage][name]} for name in names}}
                                    for stage, names in trained_models(recipe).items() if names}}

    def stage_dir(self, stage: str) -> Path:
        return self.dir / stage

    def input(self, stage: str, name: str) -> Path:
        return self.dir / OUTPUTS[stage][name]


def trained_models(recipe: Recipe) -> dict[str, list[str]]:
    """The model outputs each stage records, for the runs the recipe sets (a run left unset is skipped)."""
    runs = {"sft": {"model-full": recipe.sft.full, "model-lora": recipe.sft.lora,
                    "model-unselected": recipe.sft.full if recipe.sft.compare_selection else None},
            "kd": {"model-kd-offline": recipe.kd.offline, "model-gkd": recipe.kd.gkd},
            "preference": {"model-dpo": recipe.preference.dpo, "model-cogpo": recipe.preference.cogpo},
            "grpo": {"model-grpo": recipe.grpo.run}}
    return {stage: [name for name, run in outputs.items() if run is not None] for stage, outputs in runs.items()}


@dataclass
class Step:
    """One command of the plan and the memory it takes on each GPU."""

    notebook: str
    label: str
    lines: list[str] = field(default_factory=list)  # as they will run (one per node under torchrun)
    estimate: Estimate | None = None
    gpus: int = 1  # GPUs this step uses on a node
    note: str = ""


# ---------------------------------------------------------------- building the plan

def build(recipe: Recipe, run_dir: str | Path) -> list[Step]:
    """Every step of the recipe's notebooks, in order."""
    session = Session(recipe, PlannedRun(run_dir, recipe))
    with _placeholder_keys(recipe):
        return [*teacher_steps(session), *sft_steps(session), *kd_steps(session), *preference_steps(session),
                *grpo_steps(session), *eval_steps(session)]


@contextmanager
def _placeholder_keys(recipe: Recipe):
    """SwanLab's cloud flags need its key to be set when the command is built; the key never appears
    in a command, so the plan builds them without one (main() says which keys a run needs)."""
    missing = recipe.train.swanlab == "cloud" and "SWANLAB_API_KEY" not in os.environ
    if missing:
        os.environ["SWANLAB_API_KEY"] = "<set before running>"
    try:
        yield
    finally:
        if missing:
            del os.environ["SWANLAB_API_KEY"]


def teacher_steps(session: Session) -> list[Step]:
    from cookbook.teacher.endpoint import local_server

    recipe, nb = session.recipe, PRODUCED_BY["teacher"]
    t = recipe.teacher
    if t.base_url:
        return [Step(nb, "teacher", note=f"an API: {', '.join(t.base_urls)} ({recipe.teacher_model}); nothing is "
                                         f"served here (notebook 02's judge asks it too)")]
    server = local_server(recipe, planned_model(recipe.teacher_model), session.run.stage_dir("teacher") / "server.log")
    return [Step(nb, "teacher server", [shlex.join(hide_secrets(server.command))],
                 _server_estimate(recipe, recipe.teacher_model, t.vllm, "vllm" in server.command[0]),
                 gpus=t.vllm.tensor_parallel_size * t.vllm.data_parallel_size if "vllm" in server.command[0] else 1,
                 note="started by notebook 01 and again by 02 (its judge), stopped after each")]


def sft_steps(session: Session) -> list[Step]:
    from cookbook.train.stage import sft_command

    recipe, steps = session.recipe, []
    for tuner in ("full", "lora"):
        run = getattr(recipe.sft, tuner)
        if run is None:
            steps.append(Step(PRODUCED_BY["sft"], f"sft-{tuner}", note=f"sft.{tuner} is not set: skipped"))
            continue
        job = sft_command(session, tuner, session.run.input("data", "sft"), planned_model(recipe.student_model))
        steps += _train_steps(session, "sft", job, run, recipe.student_model, OUTPUTS["sft"][f"model-{tuner}"])
    if recipe.sft.compare_selection and recipe.sft.full is not None:
        job = sft_command(session, "full", session.run.input("data", "sft_unselected"),
                          planned_model(recipe.student_model), name="unselected")
        steps += _train_steps(session, "sft", job, recipe.sft.full, recipe.student_model,
                              OUTPUTS["sft"]["model-unselected"])
    return steps


def kd_steps(session: Session) -> list[Step]:
    from cookbook.kd import stage as kd_stage
    from cookbook.kd.gkd import gkd_command
    from cookbook.kd.teacher_pass import MAX_BATCH_TOKENS, vllm_engine_args

    recipe, nb, kd = session.recipe, PRODUCED_BY["kd"], session.recipe.kd
    if kd.offline is None and kd.gkd is None:
        return [Step(nb, "kd", note="kd.offline and kd.gkd are not set: skipped")]
    teacher = planned_model(recipe.kd_teacher_model)
    start = session.start_model(kd)
    kd_file = session.run.input("data", "kd")
    steps = []
    if kd.offline is not None:
        store = kd_stage.store_dir(session)
        if kd.teacher_backend == "vllm":
            args = vllm_engine_args(teacher, kd.top_k, kd.vllm.engine_kwargs())
            line = f"vllm.LLM({', '.join(f'{k}={v!r}' for k, v in args.items())})  # prompt_logprobs={kd.top_k}"
            estimate = _server_estimate(recipe, recipe.kd_teacher_model, kd.vllm, True)
            gpus = kd.vllm.tensor_parallel_size
        else:
            line = f"transformers in the notebook's process: {teacher}, {MAX_BATCH_TOKENS} tokens a batch"
            estimate = _inference_estimate(recipe, recipe.kd_teacher_model, logit_tokens=MAX_BATCH_TOKENS)
            gpus = 1
        steps.append(Step(nb, "teacher pass", [line], estimate, gpus, note=f"top-{kd.top_k} store: {store}"))
        job = kd_stage.offline_job(session, kd_file, store)
        if jobs.use_torchrun(job.nproc):
            lines = _per_node(lambda: shlex.join(job.argv(jobs.training_env(job.nproc))))
        else:
            lines = [f"in the notebook's process: cookbook.kd.trainer.train(job)  # job: {job.output_dir}/kd_job.json"]
        training = _training(recipe, kd.offline, recipe.student_model, "offline")
        steps.append(Step(nb, "kd-offline", lines, training and estimate_training(training), recipe.train.nproc))
    if kd.gkd is not None:
        job = gkd_command(session, kd_file, start, teacher)
        steps += _train_steps(session, "kd", job, kd.gkd, recipe.student_model, OUTPUTS["kd"]["model-gkd"])
    return steps


def preference_steps(session: Session) -> list[Step]:
    from cookbook.train.measure import heldout_paths
    from cookbook.train.stage import pair_files, preference_command

    recipe, section = session.recipe, session.recipe.preference
    if section.dpo is None and section.cogpo is None:
        return [Step(PRODUCED_BY["preference"], "preference", note="preference.dpo and .cogpo are not set: skipped")]
    files, steps = pair_files(session), []
    for kind in ("dpo", "cogpo"):
        run = getattr(section, kind)
        if run is None:
            continue
        pairs, _ = heldout_paths(files[kind], session.run.stage_dir("preference"))  # notebook 05's split_heldout
        job = preference_command(session, kind, pairs, session.start_model(section))
        steps += _train_steps(session, "preference", job, run, recipe.student_model,
                              OUTPUTS["preference"][f"model-{kind}"])
    return steps


def grpo_steps(session: Session) -> list[Step]:
    from cookbook.train.frontier import frontier_paths
    from cookbook.train.stage import grpo_command

    recipe = session.recipe
    if recipe.grpo.run is None:
        return [Step(PRODUCED_BY["grpo"], "grpo", note="grpo.run is not set: skipped")]
    prompts, _ = frontier_paths(session.run.stage_dir("grpo"))  # notebook 06's frontier
    job = grpo_command(session, prompts, session.start_model(recipe.grpo))
    return _train_steps(session, "grpo", job, recipe.grpo.run, recipe.student_model, OUTPUTS["grpo"]["model-grpo"])


def eval_steps(session: Session) -> list[Step]:
    from cookbook.eval.candidates import run_candidates
    from cookbook.eval.protocol import protocol_from_recipe
    from cookbook.eval.runner import Job, run_dir_for, server_for, task_config
    from cookbook.toy.world import World, WorldSpec, world_dir

    recipe, nb = session.recipe, PRODUCED_BY["eval"]
    world = World(world_dir(WorldSpec()), {}) if recipe.eval.local == "tiny-world" else None
    protocol = protocol_from_recipe(recipe, world=world)
    out_dir = session.run.stage_dir("eval")
    steps = []
    for cand in run_candidates(recipe, session.run.manifest, session.run.dir, resolve=planned_model):
        served = not cand.is_api and protocol.serve != "checkpoint"
        lines, api_url = [], None
        if served:
            server = server_for(cand, protocol, out_dir, recipe.eval.vllm.serve_args())
            lines.append(shlex.join(hide_secrets(server.command)))
            api_url = server.base_url
        for bench in protocol.names:
            task = task_config(Job(cand, bench, run_dir_for(out_dir, cand, bench)), protocol, api_url)
            lines.append(f"evalscope TaskConfig {json.dumps(task, ensure_ascii=False)}")
        model_ref = recipe.student_model if cand.role != "teacher" else recipe.teacher_model
        if cand.is_api:
            estimate, gpus = None, 0
        elif served and protocol.serve == "vllm":
            estimate = _server_estimate(recipe, model_ref, recipe.eval.vllm, True, copies=recipe.eval.side_by_side)
            gpus = recipe.eval.vllm.tensor_parallel_size * recipe.eval.vllm.data_parallel_size
        else:  # a checkpoint in evalscope's process, or swift deploy (transformers): a batch of answers' KV cache
            estimate = _inference_estimate(recipe, model_ref, kv_tokens=protocol.batch_size * protocol.max_tokens)
            gpus = 1
        steps.append(Step(nb, f"eval {cand.name}", lines, estimate, gpus,
                          note="through its API" if cand.is_api else f"as {protocol.serve}"))
    return steps


# ---------------------------------------------------------------- commands and estimates of a training job

def _train_steps(session: Session, stage: str, job, run, model_ref: str, exported: str) -> list[Step]:
    """A ms-swift job: its swift line and the interpreter command the launcher runs (per node under
    torchrun), then its export when LoRA's adapter is merged."""
    from cookbook.train.args import shell_command
    from cookbook.train.export import exporting, merge_flags

    recipe = session.recipe
    shell = _per_node(lambda: job.shell)
    try:
        runs = _per_node(lambda: shlex.join(hide_secrets(job.argv())))
    except AttributeError:  # ms-swift is not installed here: its module has no file to hand torchrun
        runs = ["(ms-swift is not installed here: the interpreter command needs its module's path)"]
    training = _training(recipe, run, model_ref, stage, job)
    steps = [Step(PRODUCED_BY[stage], job.label, [*shell, *(f"runs: {r}" for r in runs)],
                  training and estimate_training(training), recipe.train.nproc)]
    if run.tuner_type == "lora":
        dest = session.run.dir / exported
        flags = merge_flags(job.output_dir / "checkpoint-<last>", exporting(dest))
        steps.append(Step(PRODUCED_BY[stage], f"export {dest.name}", [shell_command("export", flags)],
                          note="the merged model; renamed to its folder when complete"))
    return steps


def _per_node(line) -> list[str]:
    """``line()`` as node N builds it, for each node of the job (NODE_RANK=N)."""
    nnodes, _ = jobs.nodes()
    if nnodes == 1:
        return [line()]
    out = []
    for rank in range(nnodes):
        with _env(NODE_RANK=str(rank)):
            out.append(f"node {rank}: {line()}")
    return out


@contextmanager
def _env(**values: str):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _training(recipe: Recipe, run, model_ref: str, stage: str, job=None) -> Training | None:
    """cookbook.memory's description of one training process of ``run``; None for a model of unknown shape."""
    shape = shape_of(planned_model(model_ref))
    if shape is None:
        return None
    deepspeed = None if job is None else job.flag("deepspeed")  # the cookbook's KD trainer has none
    kw = dict(tuner=run.tuner_type, lora_rank=run.lora_rank, zero=memory.zero_of(deepspeed),
              world=recipe.train.nproc * jobs.nodes()[0], dtype_bytes=DTYPE_BYTES[recipe.train.torch_dtype],
              sequences=run.per_device_train_batch_size, length=run.max_length,
              gradient_checkpointing=run.gradient_checkpointing)
    if stage == "preference":
        kw |= {"sequences": 2 * run.per_device_train_batch_size, "reference": run.tuner_type == "full"}
    elif stage == "grpo":
        extra, gpu = run.extra, recipe.gpus.memory_gb if recipe.gpus else 0
        colocated = extra.get("use_vllm") and extra.get("vllm_mode", "colocate") == "colocate"
        kw |= {"logit_tokens": run.per_device_train_batch_size * run.max_completion_length,
               "logit_bytes": memory.LOGIT_BYTES["grpo"], "reference": run.tuner_type == "full" and run.beta > 0,
               # ms-swift's default share for a colocated vLLM is 0.9 (--vllm_gpu_memory_utilization)
               "vllm_gib": float(extra.get("vllm_gpu_memory_utilization", 0.9)) * gpu if colocated else 0.0}
    elif stage == "kd" and job is not None:  # GKD: the teacher beside the student
        kw |= {"teacher": shape_of(planned_model(recipe.kd_teacher_model))}
    elif stage == "offline":
        kw |= {"logit_tokens": memory.KD_CHUNK_TOKENS}
    return Training(shape, **kw)


def _server_estimate(recipe: Recipe, model_ref: str, sizing, vllm: bool, copies: int = 1) -> Estimate | None:
    if not vllm:
        return _inference_estimate(recipe, model_ref)
    shape = shape_of(planned_model(model_ref))
    if shape is None:
        return None
    gpu = recipe.gpus.memory_gb if recipe.gpus else None
    one = estimate_vllm(shape, sizing.gpu_memory_utilization, gpu, sizing.tensor_parallel_size, sizing.max_model_len)
    if copies == 1:
        return one
    # eval.side_by_side servers on the same GPUs: each takes its share
    return Estimate({k: v * copies for k, v in one.parts.items()},
                    one.notes + (f"{copies} servers side by side, each {sizing.gpu_memory_utilization:g} of the GPU",))


def _inference_estimate(recipe: Recipe, model_ref: str, logit_tokens: int = 0, kv_tokens: int = 0) -> Estimate | None:
    shape = shape_of(planned_model(model_ref))
    dtype = 2 if recipe.gpus else DTYPE_BYTES[recipe.train.torch_dtype]  # bfloat16 on a GPU
    return shape and estimate_inference(shape, dtype, logit_tokens=logit_tokens, kv_tokens=kv_tokens)


# ---------------------------------------------------------------- printing

COLUMNS = (("weights", ("weights", "zero3 working set")), ("grads", ("gradients",)), ("optim", ("optimizer",)),
           ("activ", ("activations", "kv cache")), ("logits", ("logits",)),
           ("beside", ("teacher", "reference model", "vllm (colocated)", "vllm share")),
           ("other", ("overhead",)))


def flags(steps: list[Step], recipe: Recipe) -> list[str]:
    """A FLAG line for each step that does not fit the recipe's stated GPUs."""
    if recipe.gpus is None:
        return []
    out, budget = [], recipe.gpus.memory_gb
    for s in steps:
        if s.estimate is None:
            continue
        if s.estimate.total_gib > budget:
            biggest = max(s.estimate.parts.items(), key=lambda kv: kv[1])
            out.append(f"FLAG {s.notebook} {s.label}: {s.estimate.total_gib:.1f} GiB estimated per GPU > "
                       f"{budget:g} GiB (gpus.memory_gb); its largest part: {biggest[0]} {biggest[1] / GiB:.1f} GiB")
        out += [f"FLAG {s.notebook} {s.label}: {note}" for note in s.estimate.notes if "does not fit" in note]
        if s.gpus > recipe.gpus.count:
            out.append(f"FLAG {s.notebook} {s.label}: uses {s.gpus} GPUs per node, the recipe states "
                       f"{recipe.gpus.count} (gpus.count)")
    return out


def render(steps: list[Step], recipe: Recipe, run_dir: Path) -> str:
    nnodes, rank = jobs.nodes()
    gpus = f"{recipe.gpus.count} x {recipe.gpus.memory_gb:g} GiB per node" if recipe.gpus else "none (CPU)"
    out = [f"plan of {recipe.source} (profile {recipe.profile}) in {run_dir}",
           f"hardware: {recipe.hardware}", f"gpus: {gpus}; nodes: {nnodes}" + (f" (this is node {rank})"
                                                                               if nnodes > 1 else "")]
    keys = [k for k in (recipe.teacher.api_key_env if recipe.teacher.base_url else None,
                        "SWANLAB_API_KEY" if recipe.train.swanlab == "cloud" else None) if k]
    if keys:
        out.append(f"environment a run needs: {', '.join(keys)}")
    notebook = None
    for s in steps:
        if s.notebook != notebook:
            notebook = s.notebook
            out += ["", f"== {notebook}"]
        memory_note = f"  [{s.estimate.total_gib:.1f} GiB {_per(recipe)}]" if s.estimate else ""
        out.append(f"# {s.label}{': ' + s.note if s.note else ''}{memory_note}")
        out += [f"  {line}" for line in s.lines]
    out += ["", table(steps, recipe)]
    return "\n".join(out)


def _per(recipe: Recipe) -> str:
    return "per GPU" if recipe.gpus else "per process (no GPU)"


def table(steps: list[Step], recipe: Recipe) -> str:
    """Each stage's estimate by part, GiB per GPU (cookbook.memory)."""
    budget = recipe.gpus.memory_gb if recipe.gpus else None
    head = f"{'memory, GiB ' + _per(recipe):<34}" + "".join(f"{name:>8}" for name, _ in COLUMNS) + f"{'total':>8}  fits"
    rows = [head]
    for s in steps:
        if s.estimate is None:
            continue
        e = s.estimate
        cells = "".join(f"{sum(e.gib(p) for p in parts):8.1f}" for _, parts in COLUMNS)
        fits = "-" if budget is None else ("yes" if e.total_gib <= budget else "NO")
        rows.append(f"{(s.notebook[:2] + ' ' + s.label)[:34]:<34}{cells}{e.total_gib:8.1f}  {fits}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cookbook.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", required=True, help="a YAML recipe, e.g. recipes/workshop.yaml")
    parser.add_argument("--run-dir", help="the run directory (default runs/<recipe name>)")
    args = parser.parse_args(argv)
    recipe = load_recipe(args.recipe)
    run_dir = resolve(args.run_dir or f"runs/{recipe.name}")
    steps = build(recipe, run_dir)
    print(render(steps, recipe, run_dir))
    found = flags(steps, recipe)
    if found:
        print("\n" + "\n".join(found))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
