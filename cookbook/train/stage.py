"""The training jobs of notebooks 03, 05 and 06, built from the recipe and the run manifest.

    job = sft_job(session, "full")   # swift sft on the teacher's verified CoT (stage data, output sft)
    print(job.shell)                 # the terminal command it stands for
    result = launch(job)             # live progress; returns the last checkpoint

Every input is read from the manifest (``session.run.input``) and checked row by row in
the training format before ms-swift starts; a bad row fails with file, line and field.
Outputs go to the stage folder: ``<run>/<stage>/<name>/`` is ms-swift's output directory.
"""

from __future__ import annotations

from pathlib import Path

from cookbook.data.formats import validate_file
from cookbook.hub import resolve_model
from cookbook.session import Session
from cookbook.train.args import dpo_flags, grpo_flags, sft_flags
from cookbook.train.launcher import TrainJob


def student_model(session: Session) -> Path:
    """The base student's folder (the tiny world's, or the hub model's local copy)."""
    return resolve_model(session.recipe.student_model)


def _job(session: Session, subcommand: str, flags: list[str], output_dir: Path, label: str) -> TrainJob:
    shared = session.recipe.train
    env = {"COOKBOOK_SWANLAB_PROJECT": shared.swanlab_project}
    return TrainJob(subcommand, flags, output_dir, nproc=shared.nproc, label=label, env=env)


def _common(session: Session, stage: str, name: str, model: Path | str, dataset: Path) -> dict:
    return {"model": model, "dataset": dataset, "output_dir": session.run.stage_dir(stage) / name,
            "seed": session.recipe.seed, "name": f"{session.recipe.name}-{name}"}


def sft_job(session: Session, tuner: str, dataset: Path | None = None, model: Path | None = None,
            name: str | None = None) -> TrainJob:
    """``swift sft`` of the base student on stage data's ``sft`` file; tuner "full" or "lora".

    ``name`` (default: the tuner) names the output folder, for a second run of the same
    settings on other data (notebook 03's student on every verified chain: "unselected").
    """
    _sft_run(session, tuner)  # a recipe without this run says so before anything is read
    dataset = Path(dataset or session.run.input("data", "sft"))
    validate_file(dataset, "sft")
    return sft_command(session, tuner, dataset, Path(model or student_model(session)), name)


def _sft_run(session: Session, tuner: str):
    run = getattr(session.recipe.sft, tuner, None)
    if run is None:
        raise ValueError(f"{session.recipe.source}: sft.{tuner} is not set, so this recipe skips {tuner} SFT")
    if run.tuner_type != tuner:
        raise ValueError(f"{session.recipe.source}: sft.{tuner}.tuner_type is {run.tuner_type!r}")
    return run


# The *_command functions build a job from paths given to them and read no file: the notebook's
# *_job checks its inputs first, and cookbook.plan prints the same job before the inputs exist.

def sft_command(session: Session, tuner: str, dataset: Path, model: Path | str, name: str | None = None) -> TrainJob:
    """The ``swift sft`` job of :func:`sft_job`, from the given dataset and model."""
    run = _sft_run(session, tuner)
    kw = _common(session, "sft", name or tuner, model, dataset)
    return _job(session, "sft", sft_flags(run, session.recipe.train, **kw), kw["output_dir"], f"sft-{name or tuner}")


def pair_files(session: Session) -> dict[str, Path]:
    """Where the ``dpo`` and ``cogpo`` pairs of notebook 05 are (or will be): 02's files, or the
    SFT student's own mistakes' when the recipe sets ``preference.own_mistakes``."""
    from cookbook.train.own_mistakes import pair_paths

    if session.recipe.preference.own_mistakes is None:
        return {kind: session.run.input("data", kind) for kind in ("dpo", "cogpo")}
    return pair_paths(session.run.stage_dir("preference"))


def preference_pairs(session: Session, model: Path) -> tuple[dict[str, Path], dict[str, int] | None]:
    """The ``dpo`` and ``cogpo`` files notebook 05 trains on, and counts: the SFT student's own
    mistakes against the teacher's chains when the recipe sets ``preference.own_mistakes``
    (cookbook.train.own_mistakes), else notebook 02's pairs as they are (counts None)."""
    from cookbook.train.own_mistakes import find_mistakes, one_row_per_question, write_pairs

    own = session.recipe.preference.own_mistakes
    if own is None:
        return pair_files(session), None
    files = {kind: session.run.input("data", kind) for kind in ("dpo", "cogpo")}
    # A strong SFT student slips rarely: one round of questions gave a 74% student 289 pairs and a
    # 29.5% one 604, so 40 DPO steps saw each pair 1.2 times or 0.6 times, and the strong one
    # lost accuracy (8 broken, 1 fixed; measured). With own.pairs set, rounds are asked until
    # that many pairs are found, and exactly that many are kept.
    pool = one_row_per_question(files["dpo"])
    mistakes, counts = [], {"questions": 0, "answers": 0, "wrong": 0, "pairs": 0}
    for round_, start in enumerate(range(0, len(pool), own.questions)):
        found, got = find_mistakes(model, pool[start : start + own.questions], own.samples, own.temperature,
                                   own.max_new_tokens, seed=session.recipe.seed + round_,
                                   cut=own.cut_at_first_wrong_step)
        mistakes += found
        counts = {k: counts[k] + got[k] for k in counts}
        if own.pairs is None or len(mistakes) >= own.pairs:
            break
    if own.pairs is not None:
        mistakes = mistakes[: own.pairs]
    counts["pairs"] = len(mistakes)
    if not mistakes:
        raise ValueError(f"{model}: no wrong answer in {counts['answers']} samples, so no pairs; "
                         "raise preference.own_mistakes.temperature or .samples")
    written = write_pairs(mistakes, session.run.stage_dir("preference"), tuple(own.cogpo_beta),
                          session.recipe.data.on_bad_row)
    return written, counts


def preference_job(session: Session, kind: str, dataset: Path) -> TrainJob:
    """``swift rlhf --rlhf_type dpo`` on ``dataset``; kind "dpo", or "cogpo" (per-pair beta)."""
    _preference_run(session, kind)
    validate_file(dataset, kind)
    return preference_command(session, kind, Path(dataset), session.start_model(session.recipe.preference))


def _preference_run(session: Session, kind: str):
    run = getattr(session.recipe.preference, kind, None)
    if run is None:
        raise ValueError(f"{session.recipe.source}: preference.{kind} is not set")
    return run


def preference_command(session: Session, kind: str, dataset: Path, model: Path | str) -> TrainJob:
    """The job of :func:`preference_job`, from the given pairs and start model."""
    run = _preference_run(session, kind)
    kw = _common(session, "preference", kind, model, dataset)
    flags = dpo_flags(run, session.recipe.train, cogpo=kind == "cogpo", **kw)
    return _job(session, "rlhf", flags, kw["output_dir"], kind)


def grpo_prompts(session: Session, model: Path):
    """The prompts notebook 06 trains on: the start model's frontier of 02's ``grpo`` prompts
    and a held-out share of it (``grpo.frontier``; a Frontier, cookbook.train.frontier)."""
    from cookbook.io import read_jsonl
    from cookbook.train.frontier import right_counts, split_frontier

    section = session.recipe.grpo
    if section.run is None:
        raise ValueError(f"{session.recipe.source}: grpo.run is not set")
    f, run = section.frontier, section.run
    rows = read_jsonl(session.run.input("data", "grpo"))[: f.questions]
    from cookbook.serving import chat_template_kwargs

    counts = right_counts(model, rows, f.samples, run.temperature, run.max_completion_length, session.recipe.seed,
                          chat_template_kwargs(session.recipe.train.thinking))
    return split_frontier(rows, counts, tuple(f.keep), f.heldout, session.run.stage_dir("grpo"), f.samples)


def grpo_job(session: Session, dataset: Path | None = None) -> TrainJob:
    """``swift rlhf --rlhf_type grpo`` with cookbook's rewards on stage data's ``grpo`` prompts."""
    section = session.recipe.grpo
    if section.run is None:
        raise ValueError(f"{session.recipe.source}: grpo.run is not set")
    dataset = Path(dataset or session.run.input("data", "grpo"))
    validate_file(dataset, "grpo")
    return grpo_command(session, dataset, session.start_model(section))


def grpo_command(session: Session, dataset: Path, model: Path | str) -> TrainJob:
    """The job of :func:`grpo_job`, from the given prompts and start model."""
    section = session.recipe.grpo
    if section.run is None:
        raise ValueError(f"{session.recipe.source}: grpo.run is not set")
    kw = _common(session, "grpo", "grpo", model, dataset)
    return _job(session, "rlhf", grpo_flags(section.run, session.recipe.train, **kw), kw["output_dir"], "grpo")
