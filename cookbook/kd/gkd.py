"""Online KD: ms-swift's GKD (``swift rlhf --rlhf_type gkd``), teacher and student in memory.

Each step, with probability ``lmbda`` the student samples its own reply to the prompt
(on-policy, the GKD paper's point: the student learns where it actually goes wrong);
otherwise the data's reply is used (``lmbda=0``: off-policy KD on the teacher's chains,
the online twin of cookbook's offline KD). The teacher scores the same tokens and the
loss is ms-swift's generalized JSD (``beta`` 0 forward KL, 1 reverse KL), plus
``sft_alpha`` times the cross-entropy on the data's reply.

Runs through the same launcher as notebook 03 (live progress, resume, torchrun).
"""

from __future__ import annotations

from pathlib import Path

from cookbook.data.formats import validate_file
from cookbook.hub import resolve_model
from cookbook.kd.vocab import check_vocabularies
from cookbook.recipe import GKDRun, TrainShared
from cookbook.session import Session
from cookbook.train.args import common_flags, finish_flags, plugins_for
from cookbook.train.launcher import TrainJob


def gkd_flags(run: GKDRun, shared: TrainShared, *, teacher: str | Path, **kw) -> list[str]:
    """Flags of ``swift rlhf --rlhf_type gkd``."""
    flags = {"rlhf_type": "gkd"} | common_flags(run, shared, **kw)
    flags |= {
        "teacher_model": str(teacher),
        "teacher_model_type": shared.model_type,
        "lmbda": run.lmbda,
        "beta": run.beta,
        "temperature": run.temperature,
        "sft_alpha": run.sft_alpha,
        "gkd_logits_topk": run.gkd_logits_topk,
        "max_completion_length": run.max_completion_length,
    }
    return finish_flags(flags, run, plugins_for(shared))


def gkd_job(session: Session, dataset: Path | None = None, model: Path | None = None,
            name: str = "gkd") -> TrainJob:
    """GKD of the SFT student (``kd.start_from``) towards the KD teacher on stage data's ``kd`` rows."""
    section = session.recipe.kd
    if section.gkd is None:
        raise ValueError(f"{session.recipe.source}: kd.gkd is not set, so this recipe skips online GKD")
    dataset = Path(dataset or session.run.input("data", "kd"))
    validate_file(dataset, "kd")
    model = Path(model or session.start_model(section))
    teacher = resolve_model(session.recipe.kd_teacher_model)
    check_vocabularies(teacher, model)  # before ms-swift spends its start-up
    return gkd_command(session, dataset, model, teacher, name)


def gkd_command(session: Session, dataset: Path, model: Path | str, teacher: Path | str,
                name: str = "gkd") -> TrainJob:
    """The job of :func:`gkd_job` from the given paths, nothing read or checked (cookbook.plan prints it)."""
    section = session.recipe.kd
    if section.gkd is None:
        raise ValueError(f"{session.recipe.source}: kd.gkd is not set, so this recipe skips online GKD")
    shared = session.recipe.train
    out = session.run.stage_dir("kd") / name
    flags = gkd_flags(section.gkd, shared, teacher=teacher, model=model, dataset=dataset, output_dir=out,
                      seed=session.recipe.seed, name=f"{session.recipe.name}-{name}")
    return TrainJob("rlhf", flags, out, nproc=shared.nproc, label=name,
                    env={"COOKBOOK_SWANLAB_PROJECT": shared.swanlab_project})
