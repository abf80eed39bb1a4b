"""GPU check: LoRA SFT of a Qwen2.5-1.5B-shaped model through ms-swift, bf16, length 4096, on one GPU.

Hardware: one CUDA GPU (sized for an H100 / H200 class card: under 5 minutes, about 2 of them
ms-swift's start-up and the model's random initialisation). Needs torch, transformers, peft and
accelerate only: the weights are random (no hub), the tokenizer is trained here (the tiny
world's recipe, cookbook.toy.tokenizer), the rows are synthetic 3,840-token replies (under
max_length: ms-swift drops a longer row), and ms-swift comes from wheels carried beside this file:

    make gpu-check-wheels                 # on a machine with the registry: bench/wheels/
    python bench/gpu_check.py             # on the GPU machine (installs bench/wheels offline)

It measures the peak GPU memory (nvidia-smi, polled, and ms-swift's own ``memory(GiB)``) and
the training throughput in tokens per second, beside cookbook.memory's estimate for the same
run (the plan's figure), and prints the bench JSON last. Without CUDA it stops at once,
saying so (exit 2).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WHEELS = Path(__file__).resolve().parent / "wheels"
SWIFT = "ms-swift==4.6.0"  # constraints/cpu.txt and gpu.txt
# The packages a bare GPU machine has (torch, transformers, peft, accelerate and what they pull
# in): not carried. Everything else ms-swift needs travels as a wheel.
BARE = ("torch", "transformers", "peft", "accelerate")

# Qwen/Qwen2.5-1.5B-Instruct's config.json (cookbook.memory.KNOWN has the same shape).
QWEN25_15B = dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                  num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, rope_theta=1000000.0,
                  rms_norm_eps=1e-6, tie_word_embeddings=True)
SMALL = dict(QWEN25_15B, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, vocab_size=4096)  # the CPU test's stand-in
LENGTH, ROW_TOKENS, STEPS, LORA_RANK = 4096, 3840, 12, 8  # 256 tokens left for the prompt and template


# ---------------------------------------------------------------- the model, tokenizer and rows

WORDS = [f"w{i}" for i in range(600)]


def build_tokenizer(vocab_size: int = 2048):
    from cookbook.toy.tokenizer import train_tokenizer

    rng = random.Random(0)
    corpus = [" ".join(rng.choices(WORDS, k=200)) for _ in range(200)]
    return train_tokenizer(corpus, vocab_size)


def build_model(out: Path, shape: dict = QWEN25_15B, seed: int = 0) -> Path:
    """A random-weight Qwen2 of ``shape`` with a locally trained tokenizer, saved as a model folder."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = build_tokenizer()
    tokenizer.model_max_length = shape["max_position_embeddings"]
    torch.manual_seed(seed)
    config = Qwen2Config(**shape, bos_token_id=None, eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
                         pad_token_id=tokenizer.pad_token_id)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):  # random init on the GPU: seconds, not minutes
        model = Qwen2ForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


def write_rows(path: Path, tokenizer, rows: int, tokens: int = ROW_TOKENS, seed: int = 0) -> int:
    """``rows`` chats whose reply is ``tokens`` tokens long (under max_length: ms-swift drops a longer
    row); returns the tokens of one row, the prompt included."""
    rng = random.Random(seed)
    with path.open("w") as f:
        for _ in range(rows):
            words = rng.choices(WORDS, k=tokens)
            ids = tokenizer(" ".join(words))["input_ids"][:tokens]
            reply = tokenizer.decode(ids)
            f.write(json.dumps({"messages": [{"role": "user", "content": "Continue the list."},
                                             {"role": "assistant", "content": reply}]}) + "\n")
    messages = [{"role": "user", "content": "Continue the list."}, {"role": "assistant", "content": reply}]
    return len(tokenizer(tokenizer.apply_chat_template(messages, tokenize=False))["input_ids"])


def estimate_gib(shape: dict = QWEN25_15B) -> float | None:
    """cookbook.memory's figure for this run (what python -m cookbook.plan prints); None without it."""
    try:
        from cookbook.memory import Shape, Training, estimate_training
    except ImportError:
        return None
    s = Shape(shape["num_hidden_layers"], shape["hidden_size"], shape["intermediate_size"],
              shape["num_attention_heads"], shape["num_key_value_heads"],
              shape["hidden_size"] // shape["num_attention_heads"], shape["vocab_size"],
              tied=shape["tie_word_embeddings"])
    return estimate_training(Training(s, tuner="lora", lora_rank=LORA_RANK, length=LENGTH, sequences=1,
                                      dtype_bytes=2, gradient_checkpointing=True)).total_gib


def sft_argv(model: Path, dataset: Path, output_dir: Path, steps: int = STEPS) -> list[str]:
    """``swift sft``'s flags, named as cookbook.train.args names them (a local Qwen2 folder)."""
    flags = {"model": model, "model_type": "qwen2", "template": "qwen2_5", "check_model": "false",
             "dataset": dataset, "output_dir": output_dir, "add_version": "false", "tuner_type": "lora",
             "lora_rank": LORA_RANK, "lora_alpha": 32, "target_modules": "all-linear", "torch_dtype": "bfloat16",
             "max_length": LENGTH, "per_device_train_batch_size": 1, "gradient_accumulation_steps": 1,
             "max_steps": steps, "learning_rate": "1e-4", "warmup_ratio": 0, "gradient_checkpointing": "true",
             "logging_steps": 1, "save_strategy": "no", "eval_strategy": "no", "split_dataset_ratio": 0,
             "report_to": "none", "dataloader_num_workers": 0, "dataset_num_proc": 1, "attn_impl": "sdpa",
             "seed": 42}
    return [x for k, v in flags.items() for x in (f"--{k}", str(v))]


# ---------------------------------------------------------------- ms-swift from wheels

def download_wheels(dest: Path) -> int:
    """ms-swift and what it needs beyond a bare GPU machine's packages, as wheels in ``dest``."""
    import importlib.metadata as md

    from packaging.requirements import Requirement

    def canon(n):
        return re.sub(r"[-_.]+", "-", n).lower()

    def closure(roots, stop=frozenset()):
        seen, todo = set(), list(roots)
        while todo:
            name = canon(todo.pop())
            if name in seen or name in stop:
                continue
            try:
                dist = md.distribution(name)
            except md.PackageNotFoundError:
                continue
            seen.add(name)
            for r in dist.requires or []:
                req = Requirement(r)
                if req.marker is None or req.marker.evaluate({"extra": ""}):
                    todo.append(req.name)
        return seen

    need = sorted(closure(["ms-swift", "msgspec"], stop=frozenset(closure(BARE))))
    pins = [f"{n}=={md.version(n)}" for n in need]  # this environment's versions: the CPU set
    dest.mkdir(parents=True, exist_ok=True)
    # pip wheel: a wheel as published, or built here from an sdist (crcmod, ...); for this Python
    # and platform (Linux x86_64, CPython 3.11): the GPU machine must match
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dest), *pins], check=True)
    mib = sum(f.stat().st_size for f in dest.iterdir()) / 2**20
    print(f"{len(pins)} wheels, {mib:.1f} MiB in {dest}")
    return 0


def ensure_swift(wheels: Path) -> None:
    if importlib.util.find_spec("swift") is not None:
        return
    if not wheels.is_dir():
        sys.exit(f"ms-swift is not installed and {wheels} does not exist: run `make gpu-check-wheels` where the "
                 f"package registry is reachable and carry {wheels.relative_to(ROOT)} here")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(wheels), SWIFT,
                    "msgspec"], check=True)


# ---------------------------------------------------------------- measuring

class GpuPoller(threading.Thread):
    """The GPU's used memory as nvidia-smi shows it, polled: its peak over the run (MiB)."""

    def __init__(self, interval: float = 0.5):
        super().__init__(daemon=True)
        self.interval, self.peak_mib, self._done = interval, 0.0, threading.Event()

    def run(self):
        while not self._done.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits",
                                      "-i", os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0]],
                                     capture_output=True, text=True, timeout=10).stdout
                self.peak_mib = max(self.peak_mib, float(out.split()[0]))
            except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
                pass
            self._done.wait(self.interval)

    def stop(self) -> float:
        self._done.set()
        self.join(timeout=15)
        return self.peak_mib


def read_log(output_dir: Path) -> list[dict]:
    """ms-swift's logging.jsonl: one line per logged step, then the summary (train_runtime)."""
    path = next(output_dir.rglob("logging.jsonl"), None)
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path else []


def figures(log: list[dict], row_tokens: int, steps: int) -> dict:
    steps_logged = [x for x in log if "loss" in x and "global_step/max_steps" in x]
    summary = next((x for x in reversed(log) if "train_runtime" in x), {})
    swift_mem = max((float(x.get("memory(GiB)", 0)) for x in steps_logged), default=None)
    runtime = summary.get("train_runtime")
    return {"swift_memory_gib": swift_mem, "train_runtime_s": runtime,
            "tokens_per_second": round(steps * row_tokens / runtime, 1) if runtime else None,
            "final_loss": steps_logged[-1]["loss"] if steps_logged else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--download-wheels", type=Path, help="write ms-swift's wheels here and stop (no GPU needed)")
    ap.add_argument("--wheels", type=Path, default=WHEELS)
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    a = ap.parse_args(argv)
    if a.download_wheels:
        return download_wheels(a.download_wheels)
    import torch

    if not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU here (torch.cuda.is_available() is False). This check runs LoRA SFT of a "
              "Qwen2.5-1.5B-shaped model on one GPU; run it on a GPU machine.", file=sys.stderr)
        return 2
    ensure_swift(a.wheels)
    work = a.keep or Path(tempfile.mkdtemp(prefix="gpu_check-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    model = build_model(work / "model")
    torch.cuda.empty_cache()
    from transformers import AutoTokenizer

    row_tokens = write_rows(work / "sft.jsonl", AutoTokenizer.from_pretrained(model), rows=a.steps + 4)
    out = work / "out"
    poller = GpuPoller()
    poller.start()
    cmd = [sys.executable, "-m", "swift.cli.sft", *sft_argv(model, work / "sft.jsonl", out, a.steps)]
    env = dict(os.environ, HF_HUB_OFFLINE="1", MODELSCOPE_OFFLINE="1",
               PYTORCH_CUDA_ALLOC_CONF="expandable_segments:True")
    result = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True, timeout=600)
    peak_mib = poller.stop()
    if result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-5000:], sep="\n", file=sys.stderr)
        return 1
    got = figures(read_log(out), row_tokens, a.steps)
    estimate = estimate_gib()
    gpu = torch.cuda.get_device_name(0)
    print(f"{gpu}: peak {peak_mib / 1024:.1f} GiB (nvidia-smi), {got['swift_memory_gib']} GiB (ms-swift), "
          f"estimate {estimate if estimate is None else round(estimate, 1)} GiB; {got['tokens_per_second']} "
          f"tokens/s over {a.steps} steps of {row_tokens} tokens; {time.time() - started:.0f} s in all")
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    fig = {"peak_gpu_gib": round(peak_mib / 1024, 2), **got,
           "estimate_gib": None if estimate is None else round(estimate, 2), "row_tokens": row_tokens,
           "steps": a.steps}
    targets = {"peak_gpu_gib": f"<= {round(estimate * 1.15, 2)}"} if estimate else {}
    print(json.dumps({"bench": "gpu_check", "gpu": gpu, "figures": fig, "targets": targets}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
