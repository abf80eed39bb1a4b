"""Notebook 04's calls, built from the recipe and the run manifest.

    store = stage.teacher_pass(session, stage.kd_file(session))  # the teacher scores the kd rows once
    result = run_offline_kd(stage.offline_job(session, kd_file, store))
    job = stage.gkd_job(session)                                 # online GKD through ms-swift (cookbook.kd.gkd)
    session.record("kd", outputs, stage.metrics(...))            # the last cell
"""

from __future__ import annotations

import shutil
from pathlib import Path

from cookbook.hub import resolve_model
from cookbook.kd.gkd import gkd_job  # noqa: F401  (re-exported for the notebook)
from cookbook.kd.samples import Sample, encode_file
from cookbook.kd.store import TopKStore
from cookbook.kd.teacher_pass import run_teacher_pass
from cookbook.kd.trainer import OfflineKDJob, OfflineKDResult
from cookbook.kd.vocab import check_vocabularies
from cookbook.session import Session


def teacher_model(session: Session) -> Path:
    return resolve_model(session.recipe.kd_teacher_model)


def sft_model(session: Session) -> Path:
    """The SFT student KD starts from (``kd.start_from``)."""
    return session.start_model(session.recipe.kd)


def check(session: Session) -> int:
    """The vocabulary check, before any compute: teacher against the starting student."""
    return check_vocabularies(teacher_model(session), sft_model(session))


def kd_file(session: Session) -> Path:
    """Stage data's ``kd`` rows: the teacher's verified chains (the same rows SFT trained on)."""
    return session.run.input("data", "kd")


def probe_file(session: Session, problems, max_new_tokens: int | None = None) -> Path:
    """The teacher's greedy chains for ``problems`` (the recipe's probe, cookbook.eval.probe): the KL
    is measured on them. The probe's prompt and max_new_tokens, unless ``max_new_tokens`` is given.

    No model of the run trained on these chains, so the KL there says how close the student
    is to the teacher, not how well it remembers its training rows.
    """
    from cookbook.eval.quick import Probe, chat, generate_from
    from cookbook.io import write_jsonl

    path = session.run.stage_dir("kd") / "data" / f"probe-{len(problems)}.jsonl"
    if path.exists():
        return path
    prompt = problems.prompt if isinstance(problems, Probe) else session.recipe.eval.prompt
    tokens = max_new_tokens or (problems.max_new_tokens if isinstance(problems, Probe)
                                else session.recipe.profile_info.max_new_tokens)
    conversations = [chat(p.question, prompt) for p in problems]
    replies = generate_from(teacher_model(session), conversations, tokens)
    return write_jsonl(path, [{"messages": c + [{"role": "assistant", "content": r.strip()}]}
                              for c, r in zip(conversations, replies, strict=True) if r.strip()])


def samples(session: Session, path: Path) -> list[Sample]:
    from transformers import AutoTokenizer

    length = session.recipe.kd.offline.max_length if session.recipe.kd.offline else 4096
    return encode_file(path, AutoTokenizer.from_pretrained(str(sft_model(session))), length)


def store_dir(session: Session) -> Path:
    kd = session.recipe.kd
    return session.run.stage_dir("kd") / f"store-k{kd.top_k}-T{kd.temperature:g}"


def teacher_pass(session: Session, train: Path, progress: bool = True) -> TopKStore:
    kd = session.recipe.kd
    return run_teacher_pass(teacher_model(session), sft_model(session), samples(session, train),
                            store_dir(session), k=kd.top_k, temperature=kd.temperature,
                            backend=kd.teacher_backend, progress=progress, vllm_kwargs=kd.vllm.engine_kwargs())


def offline_job(session: Session, train: Path, store: TopKStore | Path, name: str = "offline") -> OfflineKDJob:
    """The offline KD job: the recipe's validated ``kd.offline`` section as it is, and the KD loss.
    ``store``: the teacher pass's store, or its folder (cookbook.plan: before it exists)."""
    kd, run = session.recipe.kd, session.recipe.kd.offline
    if run is None:
        raise ValueError(f"{session.recipe.source}: kd.offline is not set, so this recipe skips offline KD")
    return OfflineKDJob(model=str(sft_model(session)), dataset=str(train), store=str(getattr(store, "dir", store)),
                        output_dir=str(session.run.stage_dir("kd") / name), run=run,
                        kd={"kind": kd.loss, "beta": kd.beta, "temperature": kd.temperature, "kd_weight": kd.kd_weight},
                        seed=session.recipe.seed, torch_dtype=session.recipe.train.torch_dtype,
                        nproc=session.recipe.train.nproc)


def offline_model(session: Session, result: OfflineKDResult) -> Path:
    """The trained model as the stage's ``model-kd-offline`` folder (copied again only when retrained)."""
    folder = session.run.stage_dir("kd") / "model-kd-offline"
    if not (folder / "config.json").exists() or not result.reused:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(result.model, folder)
    return folder


def metrics(sft_score, scores: dict, kl_sft: dict, kl: dict, store: TopKStore, mass, offline, gkd) -> dict:
    """The stage's metrics: accuracy and KL of each student, broken / fixed against SFT, the store."""
    from cookbook.train.measure import change_metrics

    acc_offline, acc_gkd = scores["SFT + offline KD"].accuracy, scores["SFT + online GKD"].accuracy
    changes = change_metrics(sft_score, {"kd_offline": scores["SFT + offline KD"], "gkd": scores["SFT + online GKD"]})
    return {
        "gsm8k_quick_accuracy": max(acc_offline, acc_gkd),
        "gsm8k_quick_accuracy_kd_offline": acc_offline,
        "gsm8k_quick_accuracy_gkd": acc_gkd,
        "gsm8k_quick_accuracy_sft": sft_score.accuracy,
        **{f"gsm8k_{k}": v for k, v in changes.items()},
        "kl_before": kl_sft["forward_kl"],
        "kl_after_kd_offline": kl["SFT + offline KD"]["forward_kl"],
        "kl_after_gkd": kl["SFT + online GKD"]["forward_kl"],
        "store_bytes_per_token": store.nbytes() / store.tokens(),
        "store_tokens": store.tokens(),
        "teacher_top10_mass": float(mass[min(10, len(mass)) - 1]),
        "final_kd_offline": offline.history[-1]["kd"],
        "train_seconds_kd_offline": round(offline.seconds, 1),
        "train_seconds_gkd": round(gkd.seconds, 1),
    }
