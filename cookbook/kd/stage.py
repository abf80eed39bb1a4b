"""Notebook 04's jobs, built from the recipe and the run manifest.

    store = teacher_pass(session, kd_file(session))   # the teacher scores stage data's kd rows once (resumable)
    result = run_offline_kd(offline_job(session, kd_file(session), store))
    job = gkd_job(session)                            # online GKD through ms-swift (cookbook.kd.gkd)
"""

from __future__ import annotations

from pathlib import Path

from cookbook.hub import resolve_model
from cookbook.kd.gkd import gkd_job  # noqa: F401  (re-exported for the notebook)
from cookbook.kd.samples import Sample, encode_file
from cookbook.kd.store import TopKStore
from cookbook.kd.teacher_pass import run_teacher_pass
from cookbook.kd.trainer import OfflineKDJob
from cookbook.kd.vocab import check_vocabularies
from cookbook.session import Session


def teacher_model(session: Session) -> Path:
    return resolve_model(session.recipe.kd_teacher_model)


def start_model(session: Session) -> Path:
    return session.run.input("sft", session.recipe.kd.start_from)


def check(session: Session) -> int:
    """The vocabulary check, before any compute: teacher against the starting student."""
    return check_vocabularies(teacher_model(session), start_model(session))


def kd_file(session: Session) -> Path:
    """Stage data's ``kd`` rows: the teacher's verified chains (the same rows SFT trained on)."""
    return session.run.input("data", "kd")


def probe_file(session: Session, problems, max_new_tokens: int | None = None) -> Path:
    """The teacher's greedy chains for ``problems`` (the toy test split): the KL is measured on them.

    No model of the run trained on these chains, so the KL there says how close the student
    is to the teacher, not how well it remembers its training rows.
    """
    from cookbook.eval.quick import generate
    from cookbook.io import write_jsonl
    from cookbook.toy.prompts import chat_messages
    from cookbook.train.models import load

    path = session.run.stage_dir("kd") / "data" / f"probe-{len(problems)}.jsonl"
    if path.exists():
        return path
    model, tokenizer = load(teacher_model(session))
    conversations = [chat_messages(p.question) for p in problems]
    replies = generate(model, tokenizer, conversations, max_new_tokens or session.recipe.profile_info.max_new_tokens)
    return write_jsonl(path, [{"messages": c + [{"role": "assistant", "content": r.strip()}]}
                              for c, r in zip(conversations, replies, strict=True) if r.strip()])


def samples(session: Session, path: Path) -> list[Sample]:
    from transformers import AutoTokenizer

    length = session.recipe.kd.offline.max_length if session.recipe.kd.offline else 4096
    return encode_file(path, AutoTokenizer.from_pretrained(str(start_model(session))), length)


def store_dir(session: Session) -> Path:
    kd = session.recipe.kd
    return session.run.stage_dir("kd") / f"store-k{kd.top_k}-T{kd.temperature:g}"


def teacher_pass(session: Session, train: Path, progress: bool = True) -> TopKStore:
    kd = session.recipe.kd
    return run_teacher_pass(teacher_model(session), start_model(session), samples(session, train),
                            store_dir(session), k=kd.top_k, temperature=kd.temperature,
                            backend=kd.teacher_backend, progress=progress)


def offline_job(session: Session, train: Path, store: TopKStore, name: str = "offline") -> OfflineKDJob:
    kd, run = session.recipe.kd, session.recipe.kd.offline
    if run is None:
        raise ValueError(f"{session.recipe.source}: kd.offline is not set, so this recipe skips offline KD")
    return OfflineKDJob(model=str(start_model(session)), dataset=str(train), store=str(store.dir),
                        output_dir=str(session.run.stage_dir("kd") / name), run=run,
                        kd={"kind": kd.loss, "beta": kd.beta, "temperature": kd.temperature, "kd_weight": kd.kd_weight},
                        seed=session.recipe.seed, torch_dtype=session.recipe.train.torch_dtype,
                        nproc=session.recipe.train.nproc)
