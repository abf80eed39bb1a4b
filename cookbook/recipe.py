"""Recipes: YAML files validated by one schema, the one place parameters and their defaults live.

An unknown key, a wrong type or a file that does not exist fails with one message that
names the recipe file and the key (``recipes/tiny.yaml: teacher.modle: unknown key``),
before any work starts. Later stages add their own sections here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)

from cookbook.hub import TINY_WORLD_PREFIX
from cookbook.paths import resolve

# ---------------------------------------------------------------- profiles: the defaults a recipe's profile supplies
#
# tiny: CPU only, offline, the project's own tiny world, every notebook in minutes with real,
# measured learning. workshop: one GPU of 24 GB or less, Qwen2.5-1.5B-Instruct, DeepSeek-R1
# through an OpenAI-compatible API, small evaluation limits. full: several GPUs, Qwen3
# students, whole benchmarks, several samples per problem. A field's own default below is
# the same for every profile; these are the only ones that differ, and a recipe may set
# each of them. A recipe's hardware and measured runtime are its own first two lines.

@dataclass(frozen=True)
class Profile:
    name: str
    teacher: str
    student: str
    offline: bool
    eval_limit: int | None  # problems per benchmark; None = whole benchmark
    eval_samples: int  # samples per problem (pass@1 is their mean)
    max_new_tokens: int


# One row per profile: the fields of Profile, in order.
PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("tiny", "tiny-world:teacher", "tiny-world:student-base", offline=True, eval_limit=None,
            eval_samples=1, max_new_tokens=320),
    Profile("workshop", "deepseek-ai/DeepSeek-R1", "Qwen/Qwen2.5-1.5B-Instruct", offline=False, eval_limit=100,
            eval_samples=1, max_new_tokens=4096),
    Profile("full", "deepseek-ai/DeepSeek-R1", "Qwen/Qwen3-8B", offline=False, eval_limit=None,
            eval_samples=4, max_new_tokens=32768),
)}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None


Benchmark = Literal["gsm8k", "math_500", "aime24", "aime25", "ifeval"]


def _existing_file(value: str) -> str:
    if not resolve(value).exists():
        raise ValueError(f"file not found: {value} (looked in {resolve(value)})")
    return value


ExistingPath = Annotated[str, AfterValidator(_existing_file)]


def _file_or_tiny_world(value: str) -> str:
    return value if value.startswith(TINY_WORLD_PREFIX) else _existing_file(value)


QuestionFile = Annotated[str, AfterValidator(_file_or_tiny_world)]


def _yaml_float(value):
    # YAML 1.1 reads `1e-5` (no dot) as text; accept it as the number the reader meant.
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value


Float = Annotated[float, BeforeValidator(_yaml_float)]


# vLLM's --reasoning-parser for a model (cookbook.serving.reasoning_parser decides auto).
ReasoningParser = Literal["auto", "deepseek_r1", "qwen3", "none"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class VLLMSizing(Section):
    """How big a vLLM engine this recipe starts (``vllm serve`` flags, or the offline ``LLM``'s)."""

    tensor_parallel_size: int = Field(1, gt=0, description="GPUs one model is split over (a model too big for one)")
    data_parallel_size: int = Field(1, gt=0, description="copies of the model, one per GPU group (throughput)")
    gpu_memory_utilization: Float = Field(0.9, gt=0, le=1, description="share of each GPU's memory vLLM takes "
                                          "(lower it when a trainer shares the GPU)")
    max_model_len: int | None = Field(None, gt=0, description="longest prompt + answer; None: the model's own, "
                                      "whose KV cache may not fit")

    def serve_args(self) -> list[str]:
        args = ["--tensor-parallel-size", str(self.tensor_parallel_size),
                "--data-parallel-size", str(self.data_parallel_size),
                "--gpu-memory-utilization", str(self.gpu_memory_utilization)]
        return args + (["--max-model-len", str(self.max_model_len)] if self.max_model_len else [])

    def engine_kwargs(self) -> dict:
        """The offline ``vllm.LLM``'s (one engine: no data parallelism there)."""
        out = {"tensor_parallel_size": self.tensor_parallel_size, "gpu_memory_utilization": self.gpu_memory_utilization}
        return out | ({"max_model_len": self.max_model_len} if self.max_model_len else {})


class TeacherSection(Section):
    model: str | None = Field(None, description="model reference; default: the profile's teacher")
    base_url: str | Annotated[list[str], Field(min_length=1)] | None = Field(
        None, description="OpenAI-compatible endpoint, or a list of several serving the same model (requests "
        "are spread over them; cookbook.teacher.endpoints); default: a local server")
    cooldown: Float = Field(30.0, ge=0, description="seconds an endpoint that failed (no connection, 5xx, "
                            "timeout) is skipped, when base_url lists several")
    api_key_env: str | None = Field(None, description="name of the environment variable holding the key")
    system_prompt: bool = Field(True, description="send the R1-style system prompt (<think>/<answer>)")
    temperature: float = Field(0.6, ge=0, description="sampling temperature (R1's recommended 0.6)")
    max_tokens: int = Field(8192, gt=0, description="longest answer, reasoning included")
    concurrency: int = Field(64, gt=0, description="requests in flight")
    requests_per_minute: Float | None = Field(None, gt=0, description="pace requests to an API's quota "
                                              "(429s are honoured either way); None: no pacing")
    price_input_per_m: Float | None = Field(None, ge=0, description="price per million prompt tokens: shows cost")
    price_output_per_m: Float | None = Field(None, ge=0, description="price per million completion tokens")
    serve: Literal["auto", "swift", "vllm"] = Field(
        "auto", description="a local teacher (no base_url): auto is vllm serve on a GPU, else swift deploy")
    model_type: str | None = Field(None, description="swift deploy's model_type, for a local folder it cannot name")
    template: str | None = Field(None, description="swift deploy's chat template, likewise")
    vllm: VLLMSizing = Field(VLLMSizing(), description="the local teacher's vllm serve, when it runs one")
    reasoning_parser: ReasoningParser = Field(
        "auto", description="vllm serve's --reasoning-parser for a local teacher; auto: by the model "
        "(cookbook.serving: deepseek_r1 for R1 models, qwen3 for Qwen3); none: no parser")

    @property
    def base_urls(self) -> tuple[str, ...]:
        """``base_url`` as a tuple of endpoints (empty: a local server)."""
        return (self.base_url,) if isinstance(self.base_url, str) else tuple(self.base_url or ())


class StudentSection(Section):
    model: str | None = Field(None, description="model reference; default: the profile's student")


def _band(value: list[int] | None) -> list[int] | None:
    if value is not None and not (len(value) == 2 and 0 <= value[0] <= value[1] <= 9):
        raise ValueError(f"a band is [low, high] with 0 <= low <= high <= 9, got {value}")
    return value


Band = Annotated[list[int] | None, AfterValidator(_band)]


class DatasetSource(Section):
    """A dataset on a hub or on disk (cookbook.data.sources reads it): exactly one of hub / path."""

    hub: str | None = Field(None, description="a dataset id on ModelScope (Hugging Face with DISTILL_HUB="
                            "huggingface), fetched by `make download`, e.g. AI-MO/NuminaMath-CoT")
    path: ExistingPath | None = Field(None, description="or a local file, or a folder laid out as the hub's "
                                      "download leaves it (.jsonl / .json / .parquet files)")
    subset: str | None = Field(None, description="the subset (config) name, e.g. gsm8k's main; None: any")
    split: str = Field("train", description="the split whose files are read (by their names)")

    @model_validator(mode="after")
    def _hub_or_path(self):
        if (self.hub is None) == (self.path is None):
            raise ValueError("give exactly one of hub: (a dataset id) or path: (a local file or folder)")
        return self


class QuestionDataset(DatasetSource):
    question: str = Field("question", description="the row field holding the question (NuminaMath: problem)")
    answer: str | None = Field("answer", description="the row field holding the answer (NuminaMath: solution); "
                               "its ground truth is the text after ####, else its last \\boxed{}; None: no answers")


class ChainDataset(DatasetSource):
    """Ready-made chains, no teacher needed (cookbook.data.loaders reads each format)."""

    format: Literal["mathr", "omnithought", "numina"] = Field(
        description="mathr: ModelScope MathR (messages with <think>); omnithought: OmniThought (RV/CD already "
        "judged); numina: NuminaMath-CoT (problem, solution)")


def _file_or_dataset(value) -> str:
    return "~dataset" if isinstance(value, dict | QuestionDataset) else "~file"


# A string is a file (or tiny-world:), a mapping a dataset: each fails with its own message
# only (pydantic's plain union reports both); _describe hides the "~" tags from the key.
QuestionSource = Annotated[Annotated[QuestionFile, Tag("~file")] | Annotated[QuestionDataset, Tag("~dataset")],
                           Discriminator(_file_or_dataset)]


class DataSection(Section):
    questions: QuestionSource | None = Field(
        None, description="your questions (a JSON-lines file), tiny-world:<split> (the toy GSM8K train split), "
        "or a dataset {hub: or path:, subset, split, question, answer}")
    chains: ChainDataset | None = Field(
        None, description="ready-made chains instead of the teacher's: {format, hub: or path:, subset, split}")
    judge: Literal["teacher", "rules"] = Field(
        "teacher", description="who scores each chain's verbosity and difficulty: the teacher (LLM-as-judge) "
        "or the rule-based toy judge, which reads only the tiny world's chains")
    train_size: int = Field(400, gt=0, description="questions sent to the teacher")
    rl_questions: int = Field(0, ge=0, description="the next questions after train_size, never sent to the teacher: "
                              "02's grpo file, prompts the SFT student never saw; 0: the teacher's questions")
    samples: int = Field(1, gt=0, description="chains asked per question (variety needs temperature > 0)")
    rv_band: Band = Field(None, description="keep reasoning verbosity in [low, high] (0-9)")
    cd_band: Band = Field(None, description="keep cognitive difficulty in [low, high] (0-9)")
    max_chars: int | None = Field(None, gt=0, description="drop chains longer than this many characters")
    on_bad_row: Literal["raise", "quarantine"] = Field("raise", description="a bad training row stops or is set aside")


EVAL_PROMPT = "{question}\nPlease reason step by step, and put your final answer within \\boxed{}."


def _positive_limits(value):
    if isinstance(value, dict) and any(v <= 0 for v in value.values()):
        raise ValueError("every per-benchmark limit must be greater than 0")
    if isinstance(value, int) and value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _has_question(value: str) -> str:
    if "{question}" not in value:
        raise ValueError("the prompt must contain {question}")
    return value


def _local_folders(value):
    # Checked before the union is tried: one message (eval.local: gsm8k: ...), not one per union member.
    if isinstance(value, dict):
        for name, folder in value.items():
            if isinstance(folder, str) and not resolve(folder).exists():
                raise ValueError(f"{name}: benchmark folder not found: {folder} (looked in {resolve(folder)})")
    return value


class Published(Section):
    """A published result the run repeats: the report puts the measured gain beside it."""

    benchmark: Benchmark = "gsm8k"
    model: str = Field(description="the candidate that repeats it, e.g. sft-lora (07's model names)")
    against: str = Field("student-base", description="the candidate the published gain is over")
    gain: Float = Field(description="the published gain, in points")
    source: str = Field(description="where it was published")


class EvalSection(Section):
    """One evaluation protocol for every model (cookbook.eval records it in the report)."""

    benchmarks: list[Benchmark] = ["gsm8k", "math_500", "aime24", "aime25", "ifeval"]
    local: Annotated[Literal["tiny-world"] | dict[Benchmark, ExistingPath] | None,
                     BeforeValidator(_local_folders)] = Field(
        None, description="benchmark folders on disk in the hub's layout, by benchmark (the others come from the "
        "hub), or tiny-world: the tiny world's toy benchmarks; None: every benchmark from the hub")
    limit: Annotated[int | dict[Benchmark, int] | None, AfterValidator(_positive_limits)] = Field(
        None, description="problems per benchmark, or a mapping benchmark -> problems; default: the profile's")
    samples: int | None = Field(None, gt=0, description="samples per problem; default: the profile's")
    aime_samples: int = Field(4, ge=2, description="samples per AIME problem: mean and standard error, never one pass")
    temperature: float = Field(0.6, ge=0, description="one sampling temperature for every model and benchmark; "
                               "0 is greedy, allowed only with one sample per problem (so no AIME)")
    top_p: float = Field(0.95, gt=0, le=1)
    max_tokens: int | None = Field(None, gt=0, description="new tokens per answer; default: the profile's")
    prompt: Annotated[str, AfterValidator(_has_question)] = Field(
        EVAL_PROMPT, description="the user prompt of every math benchmark ({question} is replaced)")
    batch_size: int = Field(32, gt=0, description="batch size of a checkpoint, or requests in flight to a server")
    serve: Literal["checkpoint", "swift", "vllm"] = Field(
        "checkpoint", description="how local models run: in-process checkpoint, swift deploy or vllm serve")
    published: Published | None = Field(None, description="a published gain to compare with (the report)")
    vllm: VLLMSizing = Field(VLLMSizing(), description="each student's vllm serve (eval.serve: vllm)")
    side_by_side: int = Field(1, gt=0, description="models evaluated at once: served models each with its server, "
                              "checkpoints each in a worker of one thread (2 on 2 CPU cores; 1 on one GPU: each "
                              "takes the GPU's memory)")
    isolate_scoring: bool = Field(True, description="score each math answer in a forked child under evalscope's "
                                  "deadline, so a degenerate answer cannot hang math-verify; false: in-process, about "
                                  "twice as fast on a CPU, for short answers only (the toy models')")
    reasoning_parser: ReasoningParser = Field(
        "auto", description="vllm serve's --reasoning-parser for the students; auto: by the model (cookbook.serving: "
        "qwen3 for Qwen3, none for a plain instruct base student, deepseek_r1 for students distilled on <think> "
        "chains); none: no parser")


def _toy_split(value: str) -> str:
    if not value.startswith(TINY_WORLD_PREFIX):
        raise ValueError(f"a split of the tiny world ({TINY_WORLD_PREFIX}gsm8k_test), "
                         "or {benchmark: gsm8k, size: 200}")
    return value


class BenchmarkSlice(Section):
    """The last ``size`` problems of a benchmark's test split (07 evaluates the first eval.limit)."""

    benchmark: Literal["gsm8k"] = Field(description="read from where 07 reads it: eval.local's folder, else the hub")
    size: int = Field(200, gt=0, description="problems, from the end of the test split")


class ProbeSection(Section):
    """What every training stage (notebooks 02-06) is scored on before and after (cookbook.eval.probe)."""

    problems: Annotated[str, AfterValidator(_toy_split)] | BenchmarkSlice | None = Field(
        None, description="tiny-world:<split>, or {benchmark: gsm8k, size: N}: the last N of its test split; "
        "None: tiny-world:gsm8k_test when eval.local is tiny-world, else {benchmark: gsm8k, size: 200}")
    max_new_tokens: int | None = Field(None, gt=0, description="new tokens per answer; default: eval.max_tokens, "
                                       "else the profile's (the prompt is eval.prompt)")


# ---------------------------------------------------------------- training (ms-swift)

Scalar = str | int | float | bool


class TrainShared(Section):
    """How every training stage runs: processes, DeepSpeed, precision, SwanLab."""

    nproc: int = Field(1, gt=0, description="processes per node (GPUs); > 1 launches torchrun (NPROC_PER_NODE)")
    deepspeed: str | None = Field(None, description="zero2 | zero3 | zero2_offload | zero3_offload (the files in "
                                     "cookbook/train/deepspeed/, passed by path) | a JSON file of yours (GPU)")
    torch_dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    model_type: str | None = Field(None, description="ms-swift model_type, needed for a local folder it cannot name")
    template: str | None = Field(None, description="ms-swift chat template, likewise (qwen2_5 for the tiny world)")
    thinking: bool | None = Field(
        None, description="Qwen3's thinking mode (enable_thinking) for the students: ms-swift's --enable_thinking "
        "(sft, rlhf, deploy), the chat template in evaluation and in-process sampling, and GRPO's format reward "
        "(the completion may start inside <think>); None: each template's default")
    dataloader_workers: int | None = Field(None, ge=0, description="0 on small CPUs; None: ms-swift's default")
    swanlab: Literal["cloud", "local", "offline", "disabled"] = Field(
        "disabled", description="cloud needs SWANLAB_API_KEY in the environment; offline writes swanlog/ to sync later")
    swanlab_project: str = "distill-cookbook"


class RunBase(Section):
    """The hyper-parameters every training run shares, each named as ms-swift's flag of the same
    meaning (`swift sft --help`, the HF Trainer's names): a flag read in ms-swift's docs means the
    same thing in a recipe. ms-swift's runs (TrainRun) and the cookbook's own offline KD trainer
    (OfflineKDRun) both take these."""

    tuner_type: Literal["full", "lora"] = "lora"
    learning_rate: Float = Field(gt=0)
    num_train_epochs: Float | None = Field(None, gt=0, description="passes over the data; or max_steps")
    max_steps: int | None = Field(None, gt=0, description="optimizer steps; overrides num_train_epochs")
    per_device_train_batch_size: int = Field(1, gt=0, description="per device (process)")
    gradient_accumulation_steps: int = Field(1, gt=0)
    max_length: int = Field(4096, gt=0, description="tokens per example (prompt + reply)")
    warmup_ratio: Float = Field(0.05, ge=0, lt=1)
    weight_decay: Float = Field(0.1, ge=0)
    lr_scheduler_type: str = Field("cosine", description="an HF scheduler name (ms-swift and the KD trainer alike)")
    max_grad_norm: Float = Field(1.0, ge=0, description="gradient clipping (0: none)")
    lora_rank: int = Field(8, gt=0)
    lora_alpha: int = Field(32, gt=0)
    target_modules: str = "all-linear"
    gradient_checkpointing: bool = True
    save_steps: int = Field(100, gt=0, description="checkpoint every N steps: what a resume starts from")
    save_total_limit: int = Field(2, gt=0)
    logging_steps: int = Field(5, gt=0)

    @model_validator(mode="after")
    def _steps_or_epochs(self):
        if self.num_train_epochs is None and self.max_steps is None:
            raise ValueError("give num_train_epochs or max_steps")
        return self


class TrainRun(RunBase):
    """One ms-swift training run (cookbook.train.args turns it into flags)."""

    deepspeed: str | None = Field(None, description="this run's DeepSpeed config; default: train.deepspeed")
    extra: dict[str, Scalar] = Field({}, description="any other ms-swift flag, e.g. {adam_beta2: 0.98}")


class DPORun(TrainRun):
    beta: Float = Field(0.1, gt=0, description="DPO's beta; CogPO takes each pair's own beta from the data")
    rpo_alpha: Float | None = Field(None, ge=0, description="weight of an NLL term on the chosen reply")


class GRPORun(TrainRun):
    num_generations: int = Field(8, gt=1, description="completions sampled per prompt (the group)")
    max_completion_length: int = Field(1024, gt=0)
    temperature: Float = Field(1.0, gt=0)
    beta: Float = Field(0.04, ge=0, description="KL penalty towards the starting model")
    reward_funcs: list[Literal["accuracy", "format", "overlong"]] = Field(
        ["accuracy", "format"], description="the cookbook's verifiable rewards (cookbook.train.rewards)")
    reward_weights: list[Float] | None = None
    soft_max_length: int = Field(1024, gt=0, description="overlong: the penalty reaches -1 at this length")
    soft_cache_length: int = Field(256, gt=0, description="overlong: the penalty starts this many tokens earlier")


class SFTSection(Section):
    full: TrainRun | None = Field(None, description="full fine-tuning; None skips it")
    lora: TrainRun | None = Field(None, description="LoRA; None skips it")
    compare_selection: bool = Field(
        False, description="also train sft.full on every verified chain, one per question, without the RV "
        "band (02's sft_unselected file): what selection does to accuracy and length (model-unselected)")


def _beta_range(value: list[float]) -> list[float]:
    if not (len(value) == 2 and 0 < value[0] <= value[1]):
        raise ValueError(f"a beta range is [low, high] with 0 < low <= high, got {value}")
    return value


class OwnMistakes(Section):
    """Rejected replies from the SFT student itself (cookbook.train.own_mistakes)."""

    questions: int = Field(400, gt=0, description="questions of 02's dpo file the student answers per round")
    pairs: int | None = Field(None, gt=0, description="ask rounds of questions until this many pairs are found "
                              "(then keep exactly these): the same data however good the SFT student is; "
                              "None: one round")
    samples: int = Field(4, gt=0, description="answers sampled per question")
    temperature: Float = Field(0.6, gt=0, description="high enough that the student slips; the eval's is 0.6")
    max_new_tokens: int = Field(320, gt=0)
    cut_at_first_wrong_step: bool = Field(True, description="Step-DPO: reject the first wrong step, not what follows")
    cogpo_beta: Annotated[list[Float], AfterValidator(_beta_range)] = Field(
        [0.05, 0.2], description="CogPO's beta from a slip in the last step to one in the first")


class PreferenceSection(Section):
    start_from: str = Field("model-full", description="which output of stage sft to start from")
    own_mistakes: OwnMistakes | None = Field(None, description="pair the teacher with the SFT student's own "
                                             "mistakes; None: 02's pairs (the base student's answers)")
    dpo: DPORun | None = None
    cogpo: DPORun | None = None


def _count_range(value: list[int]) -> list[int]:
    if not (len(value) == 2 and 0 <= value[0] <= value[1]):
        raise ValueError(f"a range of right answers is [low, high] with 0 <= low <= high, got {value}")
    return value


class FrontierSection(Section):
    """GRPO's prompts: the questions the start model gets right sometimes (cookbook.train.frontier)."""

    questions: int | None = Field(400, gt=0, description="the first N of 02's grpo prompts are sampled; None: all")
    samples: int = Field(8, gt=1, description="answers sampled per question, at the rollout temperature")
    keep: Annotated[list[int], AfterValidator(_count_range)] = Field(
        [1, 7], description="keep questions right on this many of the samples (not all, not none)")
    heldout: int = Field(48, gt=0, description="frontier questions held out to measure pass@1 before and after")


class GRPOSection(Section):
    start_from: str = Field("model-full", description="which output of stage sft to start from")
    frontier: FrontierSection = Field(FrontierSection(), description="train on the start model's frontier of "
                                      "02's grpo prompts, part of it held out for pass@1")
    run: GRPORun | None = None

    @model_validator(mode="after")
    def _keep_within_samples(self):
        if self.frontier and self.frontier.keep[1] > self.frontier.samples:
            raise ValueError(f"frontier.keep {self.frontier.keep} asks for more right answers than its "
                             f"{self.frontier.samples} samples")
        return self


# ---------------------------------------------------------------- white-box KD (notebook 04)

class OfflineKDRun(RunBase):
    """One offline KD run in the cookbook's own trainer (cookbook.kd.trainer): the same
    hyper-parameters as an ms-swift run, no other ms-swift flags."""


class GKDRun(TrainRun):
    """``swift rlhf --rlhf_type gkd``: online KD with the teacher in memory."""

    lmbda: Float = Field(0.0, ge=0, le=1, description="share of steps on the student's own samples (0: off-policy KD)")
    beta: Float = Field(0.5, ge=0, le=1, description="0 forward KL, 1 reverse KL, between: generalized JSD")
    temperature: Float = Field(0.9, gt=0, description="sampling and KD temperature")
    sft_alpha: Float = Field(0.0, ge=0, description="weight of the cross-entropy on the data's reply")
    gkd_logits_topk: int | None = Field(None, gt=0, description="KD over the teacher's top k (None: full vocabulary)")
    max_completion_length: int = Field(512, gt=0, description="tokens the student samples when lmbda > 0")


class KDSection(Section):
    teacher: str | None = Field(None, description="white-box teacher (must share the student's tokenizer); "
                                                  "default: teacher.model")
    start_from: str = Field("model-full", description="which output of stage sft to start from")
    top_k: int = Field(10, gt=0, description="teacher log-probs stored per token (offline KD)")
    temperature: Float = Field(1.0, gt=0, description="KD temperature (the loss is scaled by T^2)")
    loss: Literal["forward_kl", "reverse_kl", "jsd"] = "forward_kl"
    beta: Float = Field(0.5, gt=0, lt=1, description="jsd: the teacher's weight in the mixture")
    kd_weight: Float = Field(0.5, ge=0, le=1, description="loss = kd_weight * T^2 * KD + (1 - kd_weight) * CE")
    teacher_backend: Literal["transformers", "vllm"] = Field(
        "transformers", description="teacher pass: transformers (CPU / any GPU) or vLLM's prompt_logprobs (GPU)")
    vllm: VLLMSizing = Field(VLLMSizing(), description="the teacher pass's vLLM engine (teacher_backend: vllm)")
    offline: OfflineKDRun | None = Field(None, description="offline top-k KD; None skips it")
    gkd: GKDRun | None = Field(None, description="online GKD through ms-swift; None skips it")


class GPUs(Section):
    """The GPUs of each node, as cookbook.plan checks each stage's memory estimate against them."""

    count: int = Field(gt=0, description="GPUs per node")
    memory_gb: Float = Field(gt=0, description="memory of each GPU as its maker states it (80 for an A100 80 GB: "
                             "GiB, 2**30 bytes)")


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str
    profile: Literal["tiny", "workshop", "full"]
    hardware: str = Field(description="what the recipe was measured on")
    gpus: GPUs | None = Field(None, description="{count, memory_gb} per node, for the plan's memory check "
                              "(python -m cookbook.plan); None: no GPU (CPU only)")
    runtime: str = Field(description="measured wall time on that hardware")
    seed: int = 42
    teacher: TeacherSection = TeacherSection()
    student: StudentSection = StudentSection()
    data: DataSection = DataSection()
    eval: EvalSection = EvalSection()
    probe: ProbeSection = ProbeSection()
    train: TrainShared = TrainShared()
    sft: SFTSection = SFTSection()
    preference: PreferenceSection = PreferenceSection()
    grpo: GRPOSection = GRPOSection()
    kd: KDSection = KDSection()
    source: str = Field("", exclude=True, description="the file this recipe was read from")

    @model_validator(mode="after")
    def _greedy_means_one_sample(self):
        # Greedy decoding gives every sample of a problem the same answer: AIME's mean and standard
        # error over several samples (eval.aime_samples >= 2) would be one pass counted N times.
        ev = self.eval
        if ev.temperature == 0:
            several = [n for n in ev.benchmarks if n in ("aime24", "aime25")]
            if (ev.samples or self.profile_info.eval_samples) > 1:
                several = ev.benchmarks
            if several:
                raise ValueError(f"eval.temperature: 0 (greedy) gives every sample the same answer, but "
                                 f"{', '.join(several)} take several samples per problem: use a temperature > 0 "
                                 f"(0.6), or leave them out of eval.benchmarks")
        return self

    @property
    def profile_info(self) -> Profile:
        return get_profile(self.profile)

    @property
    def teacher_model(self) -> str:
        return self.teacher.model or self.profile_info.teacher

    @property
    def student_model(self) -> str:
        return self.student.model or self.profile_info.student

    @property
    def kd_teacher_model(self) -> str:
        return self.kd.teacher or self.teacher_model


class RecipeError(ValueError):
    """A recipe that cannot be used; the message names the file and the key."""


def load_recipe(path: str | Path) -> Recipe:
    file = resolve(path)
    if not file.exists():
        raise RecipeError(f"recipe file not found: {path} (looked in {file})")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise RecipeError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: a recipe is a YAML mapping of keys to values")
    try:
        return Recipe.model_validate({**raw, "source": str(path)})
    except ValidationError as e:
        raise RecipeError("\n".join(f"{path}: {_describe(err)}" for err in e.errors())) from None


# Training keys renamed to ms-swift's flag names: an old recipe is told the new name.
RENAMED = {"tuner": "tuner_type", "epochs": "num_train_epochs", "batch_size": "per_device_train_batch_size",
           "grad_accum": "gradient_accumulation_steps", "lr_scheduler": "lr_scheduler_type",
           "lora_target": "target_modules", "logits_topk": "gkd_logits_topk", "rewards": "reward_funcs",
           "overlong_max_tokens": "soft_max_length", "overlong_buffer": "soft_cache_length"}


def _describe(err: dict) -> str:
    key = ".".join(str(p) for p in err["loc"] if not str(p).startswith(("~", "function-"))) or "(top level)"
    if err["type"] == "extra_forbidden":
        old = str(err["loc"][-1]) if err["loc"] else ""
        if old in RENAMED and len(err["loc"]) > 1 and err["loc"][0] in ("sft", "preference", "grpo", "kd"):
            return f"{key}: unknown key; it is called {RENAMED[old]} now (ms-swift's flag name)"
        return f"{key}: unknown key"
    if err["type"] == "missing":
        return f"{key}: required key is missing"
    got = err.get("input")
    shown = f" (got {got!r})" if not isinstance(got, dict | list) else ""
    return f"{key}: {err['msg']}{shown}"
