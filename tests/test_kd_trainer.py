"""Offline KD end to end on the tiny world: vocabulary check, alignment, normalisation, KL.

The alignment tests use an *oracle* store: at every response position the teacher's top
token is the data's next token (t+1). A trainer that picked rows by step, mixed up
samples in a shuffle, or forgot the one-position shift would see another token there:
``teacher_top1_is_label`` must be exactly 1.0 at every step.
"""

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
from transformers import AutoTokenizer

from cookbook import jobs
from cookbook.io import write_jsonl
from cookbook.kd.samples import encode_file
from cookbook.kd.store import StoreError, StoreMeta, StoreWriter, TopKStore
from cookbook.kd.trainer import OfflineKDJob, run_offline_kd
from cookbook.kd.vocab import (
    VocabularyMismatch,
    check_vocabularies,
    tokenizer_fingerprint,
)
from cookbook.recipe import OfflineKDRun
from cookbook.toy.prompts import chat_messages, think_response


@pytest.fixture(scope="module")
def toy(world, tmp_path_factory):
    """24 rows of the teacher's chains, and the student's tokenizer."""
    folder = tmp_path_factory.mktemp("kd")
    rows = [{"messages": chat_messages(p.question) + [{"role": "assistant", "content": think_response(p.digit_cot, p.answer)}]}
            for p in world.problems("gsm8k_train")[:24]]
    data = write_jsonl(folder / "kd.jsonl", rows)
    return folder, data, world.model_dir("student-base"), world.model_dir("teacher")


def _oracle_store(folder, data, student, k=4, max_length=512):
    """Teacher rows whose top token is the next token of the data, by construction."""
    tok = AutoTokenizer.from_pretrained(student)
    vocab = len(tok)
    rng = np.random.default_rng(0)
    meta = StoreMeta(k=k, vocab_size=vocab, temperature=1.0, teacher="oracle", tokenizer_sha=tokenizer_fingerprint(tok))
    with StoreWriter(folder, meta) as w:
        for s in encode_file(data, tok, max_length):
            nxt = np.array(s.input_ids[s.prompt_len:])
            ids = np.stack([np.r_[t, rng.choice(np.setdiff1d(np.arange(vocab), [t]), k - 1, replace=False)]
                            for t in nxt]).astype(np.uint32)
            lp = np.log(np.array([[0.7, 0.1, 0.05, 0.05][:k]] * len(nxt), dtype=np.float32))
            w.add(s.id, lp, ids, prompt_len=s.prompt_len, token_ids=s.input_ids)
    return TopKStore(folder)


def _job(toy, store, out, **kw):
    """A job of 3 plain SGD steps; keyword arguments override the job's or the run's fields."""
    _folder, data, student, _ = toy
    run = {"tuner_type": "full", "learning_rate": 1e-3, "max_steps": 3, "per_device_train_batch_size": 4,
           "logging_steps": 1, "save_steps": 100, "max_length": 512, "warmup_ratio": 0.0, "weight_decay": 0.0,
           "lr_scheduler_type": "constant", "max_grad_norm": 0.0, "gradient_checkpointing": False}
    job = {"model": str(student), "dataset": str(data), "store": str(store.dir), "output_dir": str(out),
           "kd": {"kind": "forward_kl", "kd_weight": 0.5}, "optimizer": "sgd"}
    for key, value in kw.items():
        (run if key in OfflineKDRun.model_fields else job)[key] = value
    return OfflineKDJob(**job, run=OfflineKDRun(**run))


def test_a_vocabulary_mismatch_fails_before_any_compute(toy, tmp_path):
    from cookbook.kd.teacher_pass import run_teacher_pass
    from cookbook.toy.tokenizer import train_tokenizer

    _, _data, student, teacher = toy
    other = train_tokenizer(["completely different text, other merges " * 50, "zebra quartz 123"], 300)
    other.save_pretrained(tmp_path / "other")
    with pytest.raises(VocabularyMismatch, match="sequence-level KD"):
        check_vocabularies(tmp_path / "other", student)
    with pytest.raises(VocabularyMismatch, match="sequence-level KD"):
        run_teacher_pass(tmp_path / "other", student, [], tmp_path / "store", k=4)
    assert not (tmp_path / "store").exists()  # nothing was written: the check came first
    assert check_vocabularies(teacher, student) == len(AutoTokenizer.from_pretrained(student))


def test_a_store_from_another_vocabulary_stops_the_trainer(toy, tmp_path):
    _folder, data, student, _ = toy
    store = _oracle_store(tmp_path / "store", data, student)
    meta = json.loads((store.dir / "meta.json").read_text()) | {"tokenizer_sha": "0" * 16}
    (store.dir / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(VocabularyMismatch, match="sequence-level KD"):
        run_offline_kd(_job(toy, store, tmp_path / "out"))


def test_token_ids_that_differ_from_the_teachers_fail_with_file_and_line(toy, tmp_path):
    _, data, student, _ = toy
    store = _oracle_store(tmp_path / "store", data, student, max_length=100)  # the teacher saw cut sequences
    with pytest.raises(StoreError, match=r"kd\.jsonl:1: messages: the student's token ids differ"):
        run_offline_kd(_job(toy, store, tmp_path / "out"))


def test_alignment_survives_shuffling_accumulation_and_epochs(toy, tmp_path):
    _, data, student, _ = toy
    store = _oracle_store(tmp_path / "store", data, student)
    result = run_offline_kd(_job(toy, store, tmp_path / "out", per_device_train_batch_size=3, gradient_accumulation_steps=2, max_steps=8,
                                 optimizer="adamw"))  # 24 rows / 6 per step: 2 epochs
    assert [h["step"] for h in result.history] == list(range(1, 9))
    assert all(h["teacher_top1_is_label"] == 1.0 for h in result.history)
    assert result.history[-1]["epoch"] == 2.0
    assert (result.model / "config.json").exists()


def test_a_finished_run_is_reused_and_an_interrupted_one_resumes(toy, tmp_path):
    _, data, student, _ = toy
    store = _oracle_store(tmp_path / "store", data, student)
    job = _job(toy, store, tmp_path / "out", max_steps=4, save_steps=2)
    first = run_offline_kd(job)
    assert run_offline_kd(job).reused
    # interrupted after checkpoint-2: resume gives the same history as the straight run
    shutil.rmtree(tmp_path / "out" / "checkpoint-4", ignore_errors=True)
    shutil.rmtree(tmp_path / "out" / "model")
    state = json.loads((tmp_path / "out" / "cookbook_job.json").read_text()) | {"finished": False}
    (tmp_path / "out" / "cookbook_job.json").write_text(json.dumps(state))
    lines = (tmp_path / "out" / "logging.jsonl").read_text().splitlines()[:2]
    (tmp_path / "out" / "logging.jsonl").write_text("\n".join(lines) + "\n")
    again = run_offline_kd(job)
    assert [h["loss"] for h in again.history] == pytest.approx([h["loss"] for h in first.history], rel=1e-5)


def test_a_retrained_start_model_at_the_same_path_is_not_reused_stale(toy, tmp_path):
    """notebook 03 retrains model-full in place: offline KD must start afresh from the new one."""
    from transformers import AutoModelForCausalLM

    _, data, student, _ = toy
    store = _oracle_store(tmp_path / "store", data, student)
    start = tmp_path / "model-full"
    shutil.copytree(student, start)
    job = _job(toy, store, tmp_path / "out", model=str(start), max_steps=2)
    first = run_offline_kd(job)
    assert run_offline_kd(job).reused
    retrained = AutoModelForCausalLM.from_pretrained(start)
    with __import__("torch").no_grad():
        for p in retrained.parameters():
            p.mul_(0.5)
    retrained.save_pretrained(start)  # the same path, other weights
    again = run_offline_kd(job)
    assert not again.reused
    assert again.history[0]["loss"] != pytest.approx(first.history[0]["loss"], rel=1e-6)


def _steps(result):
    return [(h["loss"], h["grad_norm"], h["tokens"], h["teacher_top1_is_label"]) for h in result.history]


@pytest.mark.slow
def test_two_processes_two_machines_and_accumulation_give_the_same_steps_as_one_big_batch(toy, tmp_path):
    """1 process x batch 4 == 1 x batch 2 x accumulation 2 == 2 processes (gloo) x batch 1 x accumulation 2
    == two machines of one process x batch 2 (NNODES=2, gloo on loopback, started as a scheduler
    starts them, sharing the output folder as machines share a NAS)."""
    from tests.nodes import run_as_nodes

    _, data, student, _ = toy
    store = _oracle_store(tmp_path / "store", data, student)
    one = run_offline_kd(_job(toy, store, tmp_path / "one", per_device_train_batch_size=4))
    accum = run_offline_kd(_job(toy, store, tmp_path / "accum", per_device_train_batch_size=2,
                                    gradient_accumulation_steps=2))
    two = run_offline_kd(_job(toy, store, tmp_path / "two", per_device_train_batch_size=1,
                                  gradient_accumulation_steps=2, nproc=2))
    spec = tmp_path / "nodes.json"
    spec.write_text(json.dumps(_job(toy, store, tmp_path / "nodes", per_device_train_batch_size=2).to_dict()))
    run_as_nodes("import sys; from cookbook.kd.trainer import job_from_json, run_offline_kd; "
                 "run_offline_kd(job_from_json(sys.argv[1]), progress=False)", str(spec))
    assert (tmp_path / "nodes" / "train.node1.log").exists()  # each node its own log
    nodes = SimpleNamespace(history=jobs.read_history(tmp_path / "nodes"))
    assert len(_steps(two)) == len(_steps(nodes)) == 3
    for other in (accum, two, nodes):
        for a, b in zip(_steps(one), _steps(other), strict=True):
            assert b[2] == a[2] and b[3] == a[3] == 1.0  # the same tokens, all aligned
            assert b[0] == pytest.approx(a[0], rel=1e-4) and b[1] == pytest.approx(a[1], rel=1e-4)


def test_kd_lowers_the_measured_kl_to_the_teacher(toy, tmp_path):
    from cookbook.kd.kl import teacher_student_kl
    from cookbook.kd.teacher_pass import run_teacher_pass

    _, data, student, teacher = toy
    samples = encode_file(data, AutoTokenizer.from_pretrained(student), 512)
    store = run_teacher_pass(teacher, student, samples, tmp_path / "store", k=10, progress=False)
    assert len(store) == len(samples) and store.meta.bits == 11  # ids of the 1,538-token vocabulary
    before = teacher_student_kl(teacher, student, samples)["forward_kl"]
    result = run_offline_kd(_job(toy, store, tmp_path / "out", kd={"kind": "forward_kl", "kd_weight": 1.0},
                                 optimizer="adamw", learning_rate=2e-3, max_steps=25, per_device_train_batch_size=8,
                                 max_grad_norm=1.0))
    after = teacher_student_kl(teacher, result.model, samples)["forward_kl"]
    assert after < 0.5 * before
