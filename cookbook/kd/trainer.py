"""Offline KD training: the student against the stored teacher top-k, in a small trainer of our own.

Why not inside ms-swift (a loss plugin or a trainer plugin): ms-swift 4.6's
``--loss_type`` plugins receive ``(outputs, labels, num_items_in_batch)`` only. The row a
micro-batch came from is gone by then: its template re-encodes each row (and may
truncate, pack or, with ``padding_free``, concatenate rows), its collator drops columns
it does not know, and its sampler decides the order. Per-sample external targets would
need our own template, collator and trainer subclass kept in step with ms-swift's
internals: more code than this file, and more fragile. ms-swift's GKD *can* take a
teacher's top-k, but only live from a teacher model or server (online KD, notebook 04's
second run goes through it), not from a store. So offline KD runs here, in one short
file: the alignment guarantees below are easy to check when the loop is this short.

What it guarantees (tests/test_kd_trainer.py checks each):

* **teacher rows follow their sample.** A batch is a list of samples; each sample's
  teacher rows are read from the store by its sample id, never by step or row number, and
  its token ids are checked against the hash the teacher pass stored. Shuffling
  (DistributedSampler, reseeded per epoch), gradient accumulation, several epochs and
  several processes only change which samples meet in a batch;
* **positions.** Logits at position t are matched with token t+1; only response tokens
  are targets (the prompt is masked: its positions are never gathered);
* **normalised once, per token.** Before an optimizer step, the response tokens of all
  its micro-batches on all processes are counted (one all-reduce); every token's loss is
  divided by that count, once. The gradient of a step is the same for 1 process x batch
  4, 1 process x batch 2 x accumulation 2, and 2 processes x batch 1 x accumulation 2;
* **the vocabulary.** The store records the teacher tokenizer's fingerprint; a student
  with another vocabulary fails before the model is loaded.

Run it in the notebook's process (``nproc=1``) or under torchrun (``nproc>1``:
``python -m torch.distributed.run --nproc_per_node N -m cookbook.kd.trainer job.json``,
gloo on CPU, NCCL on GPUs). Full fine-tuning or LoRA (peft, merged at the end);
no DeepSpeed.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
import torch.distributed as dist

from cookbook import jobs, procs
from cookbook.io import atomic_write_json
from cookbook.kd.loss import KDConfig, LossStats, fused_kd_loss
from cookbook.kd.samples import Sample, encode_file
from cookbook.kd.store import StoreError, TopKStore
from cookbook.kd.vocab import VocabularyMismatch, tokenizer_fingerprint
from cookbook.recipe import OfflineKDRun

FINAL = "model"
LOG_FILE = "train.log"


@dataclass
class OfflineKDJob:
    model: str  # the starting student (an HF folder)
    dataset: str  # the kd rows (JSON lines, messages format)
    store: str  # the teacher pass's store for those rows
    output_dir: str
    run: OfflineKDRun  # the recipe's kd.offline as validated: every hyper-parameter, defined once
    kd: dict = field(default_factory=dict)  # KDConfig fields
    seed: int = 42
    torch_dtype: str = "float32"
    optimizer: str = "adamw"  # adamw | sgd (sgd: tests)
    nproc: int = 1

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"run": self.run.model_dump()}

    @classmethod
    def from_dict(cls, raw: dict) -> "OfflineKDJob":
        return cls(**(raw | {"run": OfflineKDRun.model_validate(raw["run"])}))

    def argv(self, env: dict[str, str]) -> list[str]:
        """The command that trains the job in processes of its own (torchrun; cookbook.jobs.python_argv)."""
        return jobs.python_argv(self.nproc, "cookbook.kd.trainer", [str(Path(self.output_dir) / "kd_job.json")], env)

    def fingerprint(self) -> str:
        """The job + the data's content + the store's index + the starting model's files (cookbook.jobs)."""
        return jobs.job_fingerprint(self.to_dict(), data=[self.dataset, Path(self.store) / "index.jsonl"],
                                    model=self.model)


@dataclass
class OfflineKDResult:
    model: Path  # a loadable model folder (LoRA merged)
    output_dir: Path
    history: list[dict]
    seconds: float
    reused: bool = False


# ---------------------------------------------------------------- the student wrapper

class _StudentLoss(torch.nn.Module):
    """model + KD loss as one forward: what DDP wraps (its hooks see every parameter)."""

    def __init__(self, model, cfg: KDConfig):
        super().__init__()
        self.model, self.cfg = model, cfg

    def forward(self, input_ids, attention_mask, rows, cols, targets, topk_ids, topk_logprobs, normalizer, stats):
        inner = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        hidden = inner.get_decoder()(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        head = inner.get_output_embeddings()
        if getattr(head, "bias", None) is not None:
            raise NotImplementedError("an output layer with a bias")
        return fused_kd_loss(hidden[rows, cols], head.weight, targets, topk_ids, topk_logprobs, self.cfg,
                             normalizer=normalizer, stats=stats)


def collate(samples: list[Sample], store: TopKStore, pad_id: int):
    """Padded ids, and for every response position t (row, col): token t+1 and the teacher's rows."""
    width = max(len(s.input_ids) for s in samples)
    ids = torch.full((len(samples), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    rows, cols, t_ids, t_lps = [], [], [], []
    for r, s in enumerate(samples):
        n = len(s.input_ids)
        ids[r, :n] = torch.tensor(s.input_ids)
        mask[r, :n] = 1
        top_ids, top_lps = store[s.id]  # by sample id: whatever order the sample arrives in
        if top_ids.shape[0] != s.n_targets:
            raise StoreError(f"{store.dir}: sample {s.id} has {top_ids.shape[0]} teacher rows for "
                             f"{s.n_targets} response tokens")
        rows.append(torch.full((s.n_targets,), r))
        cols.append(torch.arange(s.prompt_len - 1, n - 1))  # position t predicts token t+1
        t_ids.append(torch.from_numpy(top_ids))
        t_lps.append(torch.from_numpy(top_lps))
    rows, cols = torch.cat(rows), torch.cat(cols)
    return {"input_ids": ids, "attention_mask": mask, "rows": rows, "cols": cols, "targets": ids[rows, cols + 1],
            "topk_ids": torch.cat(t_ids), "topk_logprobs": torch.cat(t_lps)}


def check_samples(samples: list[Sample], store: TopKStore, dataset: str) -> None:
    """Every sample is in the store, with the very token ids the teacher scored."""
    from cookbook.kd.store import token_ids_sha

    for s in samples:
        if s.id not in store:
            raise StoreError(f"{dataset}:{s.line}: sample {s.id} has no teacher targets in {store.dir}; "
                             f"run the teacher pass on this file")
        e = store.entry(s.id)
        if (e.ids_sha, e.prompt_len) != (token_ids_sha(s.input_ids), s.prompt_len):
            raise StoreError(f"{dataset}:{s.line}: messages: the student's token ids differ from the ones the "
                             f"teacher scored (tokenizer, chat template or max_length changed?); run the teacher "
                             f"pass again into a new store")


# ---------------------------------------------------------------- the loop

def _is_main() -> bool:
    return not dist.is_initialized() or dist.get_rank() == 0


def _say(msg: str) -> None:
    if _is_main():
        print(msg, flush=True)


def _all_sum(values: list[float]) -> list[float]:
    if not dist.is_initialized():
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def _schedule(job: OfflineKDJob, optimizer, total: int):
    from transformers import get_scheduler

    return get_scheduler(job.run.lr_scheduler_type, optimizer, num_training_steps=total,
                         num_warmup_steps=math.ceil(job.run.warmup_ratio * total))


def _load_student(job: OfflineKDJob, source: str):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(source, dtype=getattr(torch, job.torch_dtype))
    if job.run.tuner_type == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=job.run.lora_rank, lora_alpha=job.run.lora_alpha,
                                                 target_modules=job.run.target_modules, task_type="CAUSAL_LM"))
    elif job.run.tuner_type != "full":
        raise ValueError(f"tuner must be full or lora, got {job.run.tuner_type!r}")
    if job.run.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    return model


def train(job: OfflineKDJob) -> list[dict]:
    """The training loop (every process runs it); returns the logged history."""
    from transformers import AutoTokenizer

    torch.manual_seed(job.seed)
    random.seed(job.seed)
    world = dist.get_world_size() if dist.is_initialized() else 1
    rank = dist.get_rank() if dist.is_initialized() else 0
    out = Path(job.output_dir)
    cfg = KDConfig(**job.kd)

    # ---- checks before any compute: vocabulary, temperature, every sample's token ids
    store = TopKStore(job.store)
    tokenizer = AutoTokenizer.from_pretrained(job.model)
    if store.meta.tokenizer_sha and store.meta.tokenizer_sha != tokenizer_fingerprint(tokenizer):
        raise VocabularyMismatch(f"the store {job.store} was written by a teacher whose vocabulary differs from the "
                                 f"student's ({job.model}); logits KD needs one tokenizer: use sequence-level KD "
                                 f"(notebook 03_sft) for a teacher from another model family")
    if abs(store.meta.temperature - cfg.temperature) > 1e-9:
        raise StoreError(f"{job.store}: written at temperature {store.meta.temperature}, the loss asks for "
                         f"{cfg.temperature}: run the teacher pass again at that temperature")
    samples = encode_file(job.dataset, tokenizer, job.run.max_length)
    check_samples(samples, store, job.dataset)

    from torch.utils.data import DistributedSampler

    sampler = DistributedSampler(samples, num_replicas=world, rank=rank, shuffle=True, seed=job.seed, drop_last=True)
    batch, accum = job.run.per_device_train_batch_size, job.run.gradient_accumulation_steps
    per_step = batch * accum
    steps_per_epoch = len(sampler) // per_step
    if steps_per_epoch == 0:
        raise ValueError(f"{len(samples)} samples are fewer than one optimizer step "
                         f"({world} processes x batch {batch} x accumulation {accum})")
    total = job.run.max_steps or math.ceil((job.run.num_train_epochs or 1) * steps_per_epoch)

    done = jobs.checkpoints(out)
    resume = done[-1] if done else None
    model = _load_student(job, str(resume / "weights") if resume and job.run.tuner_type == "full" else job.model)
    if resume and job.run.tuner_type == "lora":
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        set_peft_model_state_dict(model, load_file(resume / "weights" / "adapter_model.safetensors"))
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}") if torch.cuda.is_available() else None
    if device is not None:
        model.to(device)
    module = _StudentLoss(model, cfg)
    ddp = torch.nn.parallel.DistributedDataParallel(module) if world > 1 else module
    params = [p for p in model.parameters() if p.requires_grad]
    if job.optimizer == "sgd":
        optimizer = torch.optim.SGD(params, lr=job.run.learning_rate)
    else:
        optimizer = torch.optim.AdamW(params, lr=job.run.learning_rate, weight_decay=job.run.weight_decay)
    scheduler = _schedule(job, optimizer, total)
    step, history = 0, []
    if resume:
        state = torch.load(resume / "optimizer.pt", weights_only=False)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = json.loads((resume / "trainer_state.json").read_text())["global_step"]
        history = jobs.read_history(out, upto=step)
        _say(f"offline KD: resuming from {resume.name}")

    model.train()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    bar = None
    if _is_main():
        from tqdm import tqdm

        bar = tqdm(total=total, initial=step, desc="offline KD", unit="step", file=sys.stdout, mininterval=0.5)
    window = LossStats()
    t0 = time.time()
    while step < total:
        epoch, in_epoch = divmod(step, steps_per_epoch)
        sampler.set_epoch(epoch)  # the same order on a resume: it depends on (seed, epoch) only
        order = list(sampler)
        start = in_epoch * per_step
        micro = [[samples[i] for i in order[start + m * batch : start + (m + 1) * batch]] for m in range(accum)]
        batches = [collate(mb, store, pad) for mb in micro]
        if device is not None:
            batches = [{k: v.to(device) for k, v in b.items()} for b in batches]
        local = sum(len(b["targets"]) for b in batches)
        (n_global,) = _all_sum([float(local)])
        # DDP averages gradients over processes: scale back so the step's loss is sum / n_global.
        normalizer = n_global / world
        stats = LossStats()
        for m, b in enumerate(batches):
            sync = m == len(batches) - 1 or world == 1
            ctx = ddp.no_sync() if (world > 1 and not sync) else _null()
            with ctx:
                loss = ddp(b["input_ids"], b["attention_mask"], b["rows"], b["cols"], b["targets"], b["topk_ids"],
                           b["topk_logprobs"], normalizer, stats)
                loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, job.run.max_grad_norm or float("inf"))
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        for f in ("kd", "ce", "tokens", "teacher_top1_is_label"):
            setattr(window, f, getattr(window, f) + getattr(stats, f))
        if step % job.run.logging_steps == 0 or step == total:
            kd_sum, ce_sum, tokens, top1 = _all_sum([window.kd, window.ce, window.tokens, window.teacher_top1_is_label])
            row = {"step": step, "global_step/max_steps": f"{step}/{total}", "epoch": round(step / steps_per_epoch, 3),
                   "kd": kd_sum / tokens, "ce": ce_sum / tokens,
                   "loss": (cfg.kd_weight * cfg.temperature ** 2 * kd_sum + (1 - cfg.kd_weight) * ce_sum) / tokens,
                   "teacher_top1_is_label": top1 / tokens, "tokens": int(tokens),
                   "grad_norm": float(grad_norm), "learning_rate": scheduler.get_last_lr()[0],
                   "elapsed_s": round(time.time() - t0, 1)}
            history.append(row)
            window = LossStats()
            if _is_main():
                with open(out / "logging.jsonl", "a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")
                bar.set_postfix_str(f"loss {row['loss']:.4g}, kd {row['kd']:.4g}", refresh=False)
        if bar:
            bar.update(1)
        if step % job.run.save_steps == 0 and step < total:
            _save(job, model, tokenizer, optimizer, scheduler, step, out)
    if bar:
        bar.close()
    if _is_main():
        _save_final(job, model, tokenizer, out)
    if dist.is_initialized():
        dist.barrier()
    return history


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _save(job, model, tokenizer, optimizer, scheduler, step, out: Path) -> None:
    if dist.is_initialized():
        dist.barrier()
    if _is_main():
        tmp = out / f".checkpoint-{step}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp / "weights")
        tokenizer.save_pretrained(tmp / "weights")
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, tmp / "optimizer.pt")
        atomic_write_json(tmp / "trainer_state.json", {"global_step": step})  # written last: marks it complete
        tmp.rename(out / f"checkpoint-{step}")
        for old in jobs.checkpoints(out)[: -job.run.save_total_limit]:
            shutil.rmtree(old, ignore_errors=True)
    if dist.is_initialized():
        dist.barrier()


def _save_final(job, model, tokenizer, out: Path) -> None:
    tmp = out / f".{FINAL}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    final = model.merge_and_unload() if job.run.tuner_type == "lora" else model
    final.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(out / FINAL, ignore_errors=True)
    tmp.rename(out / FINAL)


# ---------------------------------------------------------------- launching

def run_offline_kd(job: OfflineKDJob, progress: bool = True) -> OfflineKDResult:
    """Train (or reuse a finished run with the same job, data, store and starting model; or resume
    one cut short): cookbook.jobs, as for every training job."""
    out = Path(job.output_dir)

    def run(resume: Path | None) -> Path:  # train() finds the checkpoint itself, in every process
        atomic_write_json(out / "kd_job.json", job.to_dict())
        if not jobs.use_torchrun(job.nproc):  # one process on one machine: in this one
            procs.release_gpu()  # what the kernel held for the teacher (a torchrun child gets it in procs.start)
            train(job)
        else:
            env = jobs.training_env(job.nproc)
            argv = job.argv(env)
            log = jobs.log_path(out, LOG_FILE)
            code = jobs.run_logged(argv, log, env=env, cwd=out)
            if code != 0:
                raise jobs.failure("offline KD under torchrun", code, log)
        return out / FINAL

    done = jobs.run_resumable(out, job.fingerprint(), "offline KD", run)
    return OfflineKDResult(done.result, out, jobs.read_history(out), done.seconds, reused=done.reused)


def job_from_json(path: str | Path) -> OfflineKDJob:
    return OfflineKDJob.from_dict(json.loads(Path(path).read_text()))


def main(argv: list[str]) -> None:
    job = job_from_json(argv[0])
    if "RANK" in os.environ:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    try:
        train(job)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1:])
