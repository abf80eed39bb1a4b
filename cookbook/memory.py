"""GPU memory of one stage, per GPU, before anything runs: the estimate cookbook.plan prints.

The estimate is a sum of named parts, each a count of bytes (GiB = 2**30 bytes, which is
also what a GPU's "80 GB" means: an A100/H100 80 GB holds 81,920 MiB).

**Model states** (Rajbhandari et al., *ZeRO*, 2019, section 3.1). Ψ parameters, Φ of them
trained (Ψ for full fine-tuning; LoRA's ``r * (d_in + d_out)`` per adapted linear layer,
all seven projections of each layer for ``target_modules: all-linear``), N data-parallel
processes over all nodes, d bytes per weight (2 in bf16 / fp16, 4 in fp32):

===================  ==================================  ===================================
                     no DeepSpeed (one GPU, DDP)         DeepSpeed ZeRO stage 1 / 2 / 3
===================  ==================================  ===================================
weights              d·Ψ (LoRA's Φ kept in fp32: 4·Φ)    2·Ψ; ZeRO-3: 2·Ψ/N
gradients            d·Φ (LoRA: 4·Φ)                     2·Φ; ZeRO-2 and 3: 2·Φ/N
optimizer (AdamW)    2·d·Φ (m and v in the weights'      12·Φ (fp32 master copy, m, v);
                     dtype) + d·Φ: torch's foreach       ZeRO-1, 2 and 3: 12·Φ/N
                     AdamW builds the denominator for
                     all tensors at once
ZeRO-3 working set   -                                   two layers and the output embedding,
                                                         gathered (d bytes each)
===================  ==================================  ===================================

``*_offload`` moves the optimizer state (and its gradient partitions) to CPU memory, and
ZeRO-3's also the weights: they leave the GPU's sum, except the working set. LoRA under
ms-swift keeps the adapters in fp32 (peft's ``autocast_adapter_dtype``), so Φ costs 16
bytes a parameter either way; it is small.

**Activations** (Korthikanti et al., *Reducing Activation Recomputation in Large
Transformer Models*, 2022, section 4, with SDPA / flash attention: no s² attention scores
are kept). Per token of a micro-batch (``per_device_train_batch_size`` sequences of
``max_length`` tokens; DPO runs chosen and rejected together, twice the sequences), per
decoder layer, with hidden size h, query width q, key/value width k and MLP width I,
autograd keeps ``4h + 2q + 2k + 4I`` values of d bytes: the two norms' inputs and outputs,
Q, K, V and the attention output, the MLP's gate, up, activated gate and their product.
LoRA's dropout (ms-swift's default 0.05) keeps a dropped copy of each adapted layer's input
and its mask, ``5h + q + I`` values of d + 1 bytes. With gradient checkpointing a layer
keeps only its input (h values) and one layer is recomputed at a time.

**Logits** are the big term at Qwen's 152k vocabulary: ``tokens x vocabulary`` values at
``LOGIT_BYTES`` each, 10 for a cross-entropy loss (transformers' loss keeps the bf16
logits, their fp32 copy and its log-softmax), 6 for GRPO (TRL's and ms-swift's per-token
log-probabilities: the bf16 logits of the completion only, divided by the temperature,
log-softmax row by row in bf16). The cookbook's own KD trainer computes them a chunk at a
time (cookbook.kd.loss.fused_kd_loss): one chunk counts.

**Beside the student**: a KD teacher (GKD) holds its weights and its no-grad logits; full
DPO and GRPO keep a frozen reference model (LoRA switches the adapter off instead); ZeRO-3
shards both over the N processes, as it does the student; a
colocated vLLM takes ``gpu_memory_utilization`` of the GPU. A vLLM server or engine takes
its share of the GPU and nothing else: what it must fit inside that share is its weights
(split over ``tensor_parallel_size``) and one ``max_model_len`` sequence's KV cache, or it
refuses to start.

**Inference in a process of its own** (evalscope's checkpoint, ``swift deploy``, the KD
teacher pass under transformers): the weights, a batch's logits and the KV cache of the
answers generated at once (``2 x layers x key/value width`` values a token).

**Overhead**: ``OVERHEAD_GIB`` for the CUDA context, cuBLAS workspaces, NCCL buffers and
the caching allocator's fragmentation: what ``nvidia-smi`` shows above the tensors.

**Checks against published measurements** (:data:`CHECKS`, asserted in tests/test_memory.py
within ``TOLERANCE``, 15%). The ms-swift figures are the peak GPU memory written at the top
of each example script (ms-swift at commit 3602360a, August 2026; it writes "22GB" and
"17.2GiB" for the same nvidia-smi reading, both taken as GiB here); their datasets are
short chat rows, so the length used is what those rows reach, stated with each check:

1. ZeRO paper, Figure 1 (https://arxiv.org/abs/1910.02054): model states of a 7.5B model
   on 64 GPUs with mixed-precision Adam (16 bytes a parameter): 120 GB unpartitioned,
   31.4 GB with ZeRO-1, 16.6 GB with ZeRO-2, 1.9 GB with ZeRO-3 (decimal GB, as in the
   paper). Estimate: 120.0, 31.4, 16.6, 1.9.
2. ms-swift ``examples/train/full/train.sh``
   (https://github.com/modelscope/ms-swift/blob/main/examples/train/full/train.sh):
   Qwen2.5-7B-Instruct, full, bf16, one GPU, no DeepSpeed, batch 1, max_length 2048:
   76 GiB. Estimate: 75.6 GiB (the foreach denominators included; 61.4 without).
3. ms-swift ``examples/train/lora_sft.sh``
   (https://github.com/modelscope/ms-swift/blob/main/examples/train/lora_sft.sh):
   Qwen2.5-7B-Instruct, LoRA rank 8 all-linear, bf16, batch 1, max_length 2048 (alpaca-gpt4
   rows: 2048 assumed, the cap): 22 GB. Estimate: 19.5 GiB.
4. ms-swift Qwen3 best practice, "30-minute self-awareness fine-tuning"
   (https://github.com/modelscope/ms-swift/blob/main/docs/source_en/BestPractices/Qwen3-Best-Practice.md):
   Qwen3-8B, LoRA rank 8 all-linear, bf16, batch 1, max_length 2048: 22 GB. Estimate: 20.6 GiB.
5. ms-swift ``examples/train/multi-gpu/deepspeed/train_zero2.sh``
   (https://github.com/modelscope/ms-swift/blob/main/examples/train/multi-gpu/deepspeed/train_zero2.sh):
   Qwen2.5-7B-Instruct, LoRA rank 8, ZeRO-2 on 2 GPUs, self-cognition rows (about 256
   tokens): 18 GiB each. Estimate: 15.8 GiB.

Not within the tolerance, and so not asserted: ms-swift's ``train_zero3.sh`` (the same
LoRA run under ZeRO-3: 16 GiB each; estimate 10.6 GiB): DeepSpeed's ZeRO-3 working memory
(prefetch buckets, ``stage3_max_live_parameters`` of 1e9) is larger than two layers. A
ZeRO-3 estimate is a floor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

GiB = 2**30
OVERHEAD_GIB = 1.0  # CUDA context, cuBLAS / NCCL workspaces, allocator fragmentation
TOLERANCE = 0.15  # how far the published checks may lie from the estimate
LOGIT_BYTES = {"loss": 10, "grpo": 6}  # see the module docstring
KD_CHUNK_TOKENS = 1024  # cookbook.kd.loss.KDConfig.chunk_size: the KD trainer's logits, a chunk at a time


# ---------------------------------------------------------------- model shapes

@dataclass(frozen=True)
class Shape:
    """The numbers of a decoder-only transformer (Qwen2 / Qwen3 / Llama layout) the estimate needs."""

    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool = False  # the output embedding is the input one
    max_positions: int = 32768

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def linears(self) -> list[tuple[int, int]]:
        """(in, out) of each decoder layer's seven projections: q, k, v, o, gate, up, down."""
        h, q, k, i = self.hidden, self.q_dim, self.kv_dim, self.intermediate
        return [(h, q), (h, k), (h, k), (q, h), (h, i), (h, i), (i, h)]

    @property
    def layer_params(self) -> int:
        return sum(a * b for a, b in self.linears()) + 2 * self.hidden

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden

    @property
    def params(self) -> int:
        return self.layers * self.layer_params + self.embedding_params * (1 if self.tied else 2) + self.hidden

    def lora_params(self, rank: int) -> int:
        """LoRA on every projection (``target_modules: all-linear``)."""
        return self.layers * rank * sum(a + b for a, b in self.linears())

    def kv_bytes_per_token(self, dtype_bytes: int = 2) -> int:
        return 2 * self.layers * self.kv_dim * dtype_bytes


# The models the recipes name, from each one's config.json on the hub (a downloaded folder's
# own config.json is read first): the plan needs no download.
KNOWN: dict[str, Shape] = {
    "Qwen/Qwen2.5-1.5B-Instruct": Shape(28, 1536, 8960, 12, 2, 128, 151936, tied=True),
    "Qwen/Qwen2.5-7B-Instruct": Shape(28, 3584, 18944, 28, 4, 128, 152064),
    "Qwen/Qwen3-8B": Shape(36, 4096, 12288, 32, 8, 128, 151936, max_positions=40960),
    "Qwen/Qwen3-32B": Shape(64, 5120, 25600, 64, 8, 128, 151936, max_positions=40960),
}


def shape_from_config(config: dict) -> Shape:
    """A Shape from a Hugging Face config.json."""
    heads = config["num_attention_heads"]
    return Shape(layers=config["num_hidden_layers"], hidden=config["hidden_size"],
                 intermediate=config["intermediate_size"], heads=heads,
                 kv_heads=config.get("num_key_value_heads") or heads,
                 head_dim=config.get("head_dim") or config["hidden_size"] // heads, vocab=config["vocab_size"],
                 tied=bool(config.get("tie_word_embeddings", False)),
                 max_positions=config.get("max_position_embeddings", 32768))


def shape_of(model: str | Path | None) -> Shape | None:
    """The shape of a model folder (its config.json) or of a hub id in :data:`KNOWN`; None if unknown."""
    if model is None:
        return None
    config = Path(model) / "config.json"
    if config.is_file():
        return shape_from_config(json.loads(config.read_text()))
    return KNOWN.get(str(model))


# ---------------------------------------------------------------- DeepSpeed

@dataclass(frozen=True)
class Zero:
    stage: int | None = None  # None: no DeepSpeed
    offload_optimizer: bool = False
    offload_param: bool = False

    @property
    def name(self) -> str:
        if self.stage is None:
            return "none"
        return f"zero{self.stage}" + ("_offload" if self.offload_optimizer or self.offload_param else "")


def zero_of(deepspeed: str | None) -> Zero:
    """A recipe's ``deepspeed``: none, one of ms-swift's presets (zero2, zero3_offload, ...) or a JSON file."""
    if not deepspeed:
        return Zero()
    if deepspeed.startswith("zero") and deepspeed[4:5].isdigit():
        offload = deepspeed.endswith("_offload")
        stage = int(deepspeed[4])
        return Zero(stage, offload_optimizer=offload, offload_param=offload and stage == 3)
    z = json.loads(Path(deepspeed).read_text()).get("zero_optimization", {})

    def on(key):
        return (z.get(key) or {}).get("device", "none") not in ("none", None)

    return Zero(int(z.get("stage", 0)), offload_optimizer=on("offload_optimizer"), offload_param=on("offload_param"))


# ---------------------------------------------------------------- the estimate

@dataclass(frozen=True)
class Estimate:
    """Bytes per GPU by part; ``total_gib`` is their sum."""

    parts: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        return sum(self.parts.values())

    @property
    def total_gib(self) -> float:
        return self.total / GiB

    def gib(self, part: str) -> float:
        return self.parts.get(part, 0.0) / GiB


@dataclass(frozen=True)
class Training:
    """One training process's GPU: the student, its optimizer, a batch, and what sits beside it."""

    model: Shape
    tuner: Literal["full", "lora"] = "full"
    lora_rank: int = 8
    zero: Zero = Zero()
    world: int = 1  # data-parallel processes, all nodes together
    dtype_bytes: int = 2
    sequences: int = 1  # per micro-batch (DPO: chosen and rejected, 2 x per_device_train_batch_size)
    length: int = 2048
    logit_tokens: int | None = None  # positions whose logits exist at once; None: sequences x length
    logit_bytes: int = LOGIT_BYTES["loss"]
    gradient_checkpointing: bool = True
    teacher: Shape | None = None  # a KD teacher resident beside the student (no gradients)
    reference: bool = False  # a frozen copy of the student (full DPO / GRPO with beta > 0)
    vllm_gib: float = 0.0  # a vLLM engine colocated on the same GPU


def model_states(psi: float, phi: float, zero: Zero = Zero(), world: int = 1, dtype_bytes: int = 2,
                 lora: bool = False) -> dict[str, float]:
    """Bytes per GPU of weights, gradients and optimizer state (the module docstring's table)."""
    d, n = dtype_bytes, world
    if zero.stage is None:
        grad = 4 if lora else d  # peft keeps LoRA's weights, and so their gradients, in fp32
        return {"weights": d * psi + (4 * phi if lora else 0), "gradients": grad * phi,
                "optimizer": 3 * grad * phi}  # m, v and foreach AdamW's denominators
    mixed = d < 4  # DeepSpeed's bf16 / fp16 keeps an fp32 master copy in the optimizer
    return {"weights": 0 if zero.offload_param else d * psi / (n if zero.stage >= 3 else 1),
            "gradients": 0 if zero.offload_optimizer else d * phi / (n if zero.stage >= 2 else 1),
            "optimizer": 0 if zero.offload_optimizer else (12 if mixed else 8) * phi / (n if zero.stage >= 1 else 1)}


def estimate_training(t: Training) -> Estimate:
    """The parts of one training process's GPU memory (the module docstring's formula)."""
    m, z, d, n = t.model, t.zero, t.dtype_bytes, t.world
    psi = m.params
    phi = psi if t.tuner == "full" else m.lora_params(t.lora_rank)
    parts = model_states(psi, phi, z, n, d, lora=t.tuner == "lora")
    if z.stage is not None and z.stage >= 3:
        parts["zero3 working set"] = d * (2 * m.layer_params + m.embedding_params)
    tokens = t.sequences * t.length
    h, q, k, i = m.hidden, m.q_dim, m.kv_dim, m.intermediate
    layer = d * (4 * h + 2 * q + 2 * k + 4 * i)
    if t.tuner == "lora":
        layer += (d + 1) * (5 * h + q + i)  # dropout's copy of each adapted input, and its mask
    kept = m.layers * d * h + layer if t.gradient_checkpointing else m.layers * layer
    parts["activations"] = tokens * kept
    logit_tokens = tokens if t.logit_tokens is None else t.logit_tokens
    parts["logits"] = logit_tokens * m.vocab * t.logit_bytes
    # ZeRO-3 shards the frozen models too (TRL prepares a reference or teacher with DeepSpeed)
    frozen_shards = n if z.stage is not None and z.stage >= 3 else 1
    if t.reference:
        parts["reference model"] = d * psi / frozen_shards
    if t.teacher is not None:
        parts["teacher"] = d * t.teacher.params / frozen_shards + logit_tokens * t.teacher.vocab * (d + 4)
    if t.vllm_gib:
        parts["vllm (colocated)"] = t.vllm_gib * GiB
    parts["overhead"] = OVERHEAD_GIB * GiB
    return Estimate(parts)


def estimate_vllm(model: Shape, share: float, gpu_gib: float | None, tensor_parallel: int = 1,
                  max_model_len: int | None = None, dtype_bytes: int = 2) -> Estimate:
    """A vLLM server or engine: it takes ``share`` of each GPU; a note says what does not fit in it."""
    weights = dtype_bytes * model.params / tensor_parallel
    length = max_model_len or model.max_positions
    kv = model.kv_bytes_per_token(dtype_bytes) * length / tensor_parallel
    notes = []
    if gpu_gib is not None:
        room = share * gpu_gib * GiB - weights - OVERHEAD_GIB * GiB
        if room < 0:
            notes.append(f"the weights ({weights / GiB:.1f} GiB per GPU) do not fit in vLLM's share "
                         f"({share:g} x {gpu_gib:g} GiB): raise gpu_memory_utilization or tensor_parallel_size")
        elif room < kv:
            notes.append(f"one {length}-token sequence's KV cache ({kv / GiB:.1f} GiB) does not fit beside the "
                         f"weights: vLLM refuses to start; lower max_model_len")
        total = share * gpu_gib * GiB
    else:
        total = weights + kv + OVERHEAD_GIB * GiB  # no stated GPU: the least it needs
    return Estimate({"vllm share": total}, tuple(notes))


def estimate_inference(model: Shape, dtype_bytes: int = 2, logit_tokens: int = 0, kv_tokens: int = 0) -> Estimate:
    """A model loaded for inference by transformers (a notebook's process, evalscope's checkpoint,
    swift deploy): its weights, the logits of a batch (the KD teacher pass's log-softmax in fp32
    besides) and the KV cache of the tokens it generates at once."""
    return Estimate({"weights": dtype_bytes * model.params,
                     "logits": logit_tokens * model.vocab * (dtype_bytes + 4),
                     "kv cache": kv_tokens * model.kv_bytes_per_token(dtype_bytes),
                     "overhead": OVERHEAD_GIB * GiB})


# ---------------------------------------------------------------- published measurements

@dataclass(frozen=True)
class Check:
    what: str
    source: str
    published_gib: float
    estimate: Training


QWEN25_7B = KNOWN["Qwen/Qwen2.5-7B-Instruct"]
CHECKS: tuple[Check, ...] = (
    Check("Qwen2.5-7B-Instruct full SFT, bf16, 1 GPU, max_length 2048",
          "https://github.com/modelscope/ms-swift/blob/main/examples/train/full/train.sh", 76,
          Training(QWEN25_7B, "full", length=2048)),
    Check("Qwen2.5-7B-Instruct LoRA r8 SFT, bf16, 1 GPU, max_length 2048",
          "https://github.com/modelscope/ms-swift/blob/main/examples/train/lora_sft.sh", 22,
          Training(QWEN25_7B, "lora", 8, length=2048)),
    Check("Qwen3-8B LoRA r8 SFT, bf16, 1 GPU, max_length 2048",
          "https://github.com/modelscope/ms-swift/blob/main/docs/source_en/BestPractices/Qwen3-Best-Practice.md",
          22, Training(KNOWN["Qwen/Qwen3-8B"], "lora", 8, length=2048)),
    Check("Qwen2.5-7B-Instruct LoRA r8, ZeRO-2 on 2 GPUs, self-cognition rows (~256 tokens)",
          "https://github.com/modelscope/ms-swift/blob/main/examples/train/multi-gpu/deepspeed/train_zero2.sh",
          18, Training(QWEN25_7B, "lora", 8, zero=Zero(2), world=2, length=256)),
)


def zero_paper_model_states(params: float, gpus: int) -> dict[str, float]:
    """Model states per GPU in decimal GB, as the ZeRO paper's Figure 1 counts them (fp16 Adam, K = 12)."""
    return {name: sum(model_states(params, params, Zero(stage), gpus).values()) / 1e9
            for name, stage in (("baseline", 0), ("zero1", 1), ("zero2", 2), ("zero3", 3))}
