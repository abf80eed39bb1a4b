"""The evaluation protocol: one generation configuration for every model, written down.

Published comparisons often do not reproduce because the protocol is not stated: how
many tokens a model may write, at which temperature, how many samples per problem, with
which prompt, and how the answer is read from the text. Here the recipe's ``eval``
section fixes all of them once, for the teacher, the base student and every distilled
student alike, and :meth:`Protocol.rows` prints them into the report.

Benchmarks are read by evalscope's own adapters: in the tiny profile from the tiny
world's folders (the toy problems in the real formats), elsewhere from the hub (ModelScope
by default, Hugging Face with ``DISTILL_HUB=huggingface``) through evalscope's dataset
cache under ``<cache>/evalscope``, which ``make download`` fills ahead for machines
without internet.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cookbook.io import sha256_tree
from cookbook.paths import cache_dir, resolve
from cookbook.recipe import Recipe
from cookbook.run import fingerprint

MATH = ("gsm8k", "math_500", "aime24", "aime25")
AIME = ("aime24", "aime25")
AIME_PROBLEMS = 30  # each year's AIME I and II
PRETTY = {"gsm8k": "GSM8K", "math_500": "MATH-500", "aime24": "AIME 2024", "aime25": "AIME 2025", "ifeval": "IFEval"}
AIME_SCORING = ("accuracy: the answer read by Math-Verify (\\boxed{} first) equals the integer answer "
                "(evalscope, integers only)")
# What each benchmark's score means, as evalscope computes it. Its math parser reads the
# answer the way Math-Verify does: a \boxed{} answer first, else the last expression it can
# parse, so an unboxed final number can still score.
SCORING = {
    "gsm8k": "accuracy: the answer read by Math-Verify (\\boxed{} first) equals the number after #### (evalscope)",
    "math_500": "accuracy: the answer read by Math-Verify (\\boxed{} first) is equivalent to the reference (evalscope)",
    "aime24": AIME_SCORING,
    "aime25": AIME_SCORING,
    "ifeval": "prompt-level strict: every verifiable instruction of the prompt is followed (evalscope's checkers)",
}
MATH_500_LEVELS = 5


@dataclass(frozen=True)
class BenchmarkPlan:
    name: str
    limit: int | None  # problems; None = all
    samples: int  # samples per problem; the score is their mean
    prompt: str | None  # None: the benchmark's own (IFEval's prompt is the instruction itself)
    local_path: str | None  # a dataset folder; None = the hub

    @property
    def pretty(self) -> str:
        return PRETTY.get(self.name, self.name)

    def dataset_args(self) -> dict:
        args: dict = {"few_shot_num": 0}
        if self.prompt is not None:
            # evalscope formats the template with str.format: keep {question}, escape other braces.
            escaped = self.prompt.replace("{", "{{").replace("}", "}}").replace("{{question}}", "{question}")
            args["prompt_template"] = escaped
        if self.local_path:
            args["local_path"] = self.local_path
        return args

    def data_sha256(self) -> str | None:
        """The content hash of a local benchmark folder's files (None for a hub benchmark).

        It keys everything cached from the folder: evalscope's answers (identity.json) and
        the parsed copy that `datasets` keeps (see cookbook.eval.runner.worker).
        """
        return local_data_sha256(self.local_path) if self.local_path else None

    def expected_answers(self) -> int | None:
        """Answers one model gives (None when the benchmark's size is not known here)."""
        if self.limit is None:
            return None
        per_level = self.name == "math_500"
        return self.evalscope_limit() * (MATH_500_LEVELS if per_level else 1) * self.samples

    def evalscope_limit(self) -> int | None:
        """evalscope applies MATH-500's limit to each difficulty level: divide ours among the five."""
        if self.limit is None:
            return None
        if self.name == "math_500":
            return math.ceil(self.limit / MATH_500_LEVELS)
        return self.limit


@dataclass(frozen=True)
class Protocol:
    profile: str
    benchmarks: tuple[BenchmarkPlan, ...]
    temperature: float
    top_p: float
    max_tokens: int
    batch_size: int
    serve: str
    dataset_hub: str = "modelscope"
    dataset_dir: str | None = None
    token_ruler: str = "the base student's tokenizer"
    seed: int = 42
    notes: tuple[str, ...] = field(default_factory=tuple)

    def plan(self, name: str) -> BenchmarkPlan:
        for b in self.benchmarks:
            if b.name == name:
                return b
        raise KeyError(f"benchmark {name!r} is not in this protocol ({', '.join(self.names)})")

    @property
    def names(self) -> list[str]:
        return [b.name for b in self.benchmarks]

    def generation_config(self) -> dict:
        # do_sample matters to local checkpoints only (APIs sample whenever temperature > 0);
        # temperature 0 is greedy (recipes/tutorial.yaml), which transformers runs only with do_sample off.
        # No seed per request: a server would then return the same sample k times.
        return {"max_tokens": self.max_tokens, "temperature": self.temperature, "top_p": self.top_p,
                "do_sample": self.temperature > 0}

    def to_dict(self) -> dict:
        return asdict(self)

    def fingerprint(self) -> str:
        return fingerprint(self.to_dict())

    def rows(self) -> list[dict]:
        """The protocol as a table: one row per benchmark, the shared settings repeated."""
        rows = []
        for b in self.benchmarks:
            rows.append({
                "benchmark": b.pretty,
                "problems": _problems(b),
                "samples per problem": b.samples,
                "prompt": "the instruction itself" if b.prompt is None else b.prompt.replace("\n", " / "),
                "scoring": SCORING.get(b.name, "evalscope's default metric"),
                "data": "tiny world (local folder)" if b.local_path else f"{self.dataset_hub} (evalscope dataset)",
            })
        return rows

    def settings(self) -> dict[str, str]:
        """The generation configuration shared by every model and benchmark."""
        return {
            "temperature": f"{self.temperature}",
            "top_p": f"{self.top_p}",
            "max new tokens": f"{self.max_tokens}",
            "few-shot examples": "0",
            "models run as": {"checkpoint": "local checkpoints (transformers, batched) or their API",
                              "swift": "swift deploy servers (OpenAI-compatible API)",
                              "vllm": "vLLM servers (OpenAI-compatible API)"}[self.serve],
            "batch size / requests in flight": f"{self.batch_size}",
            "score": "mean over problems of the per-problem mean over samples; ± one standard error "
                     "(standard deviation of the per-problem means / sqrt(problems))",
            "CoT tokens": f"mean tokens of a whole answer (reasoning + final answer), counted with {self.token_ruler}",
            "seed": f"{self.seed} (evalscope seeds local sampling once per run)",
        }


def local_data_sha256(folder: str | Path) -> str:
    """sha256 over a local dataset folder's files (relative names and contents), hidden files aside.

    evalscope deletes a local folder's ``dataset_infos.json`` before loading it, so that file
    is left out too: the hash must be the same before and after an evaluation.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"benchmark folder {folder} does not exist (dataset_args.local_path)")
    return sha256_tree(folder, skip=lambda rel: any(part.startswith(".") for part in rel.parts)
                       or rel.name == "dataset_infos.json")


def _problems(b: BenchmarkPlan) -> str:
    if b.limit is None or (b.name in AIME and not b.local_path and b.limit >= AIME_PROBLEMS):
        return "all"
    if b.name == "math_500":
        return f"first {b.evalscope_limit()} of each level"
    return f"first {b.limit}"


def protocol_from_recipe(recipe: Recipe, world=None) -> Protocol:
    """The protocol a recipe asks for, with the profile's defaults filled in.

    ``world``: the tiny world whose benchmark folders ``eval.local: tiny-world`` reads (loaded if None).
    """
    ev = recipe.eval
    profile = recipe.profile_info
    toy = ev.local == "tiny-world"
    if toy and world is None:
        from cookbook.toy.world import load_world

        world = load_world()
    plans = []
    for name in ev.benchmarks:
        if isinstance(ev.limit, dict):
            limit = ev.limit.get(name, profile.eval_limit)
        else:
            limit = ev.limit if ev.limit is not None else profile.eval_limit
        samples = ev.aime_samples if name in AIME else (ev.samples or profile.eval_samples)
        if toy:
            local = str(world.benchmark_dir(name))
        else:
            local = str(resolve(ev.local[name])) if ev.local and name in ev.local else None
        plans.append(BenchmarkPlan(
            name=name,
            limit=limit,
            samples=samples,
            prompt=ev.prompt if name in MATH else None,
            local_path=local,
        ))
    notes = []
    if toy:
        notes.append("Tiny world: its toy problems in the benchmarks' file formats, "
                     "read by evalscope's own adapters; the numbers are not comparable with published ones.")
    elif any(p.local_path for p in plans):
        notes.append("Read from folders on disk: " + ", ".join(f"{p.name} ({p.local_path})"
                                                             for p in plans if p.local_path) + ".")
    if any(n in AIME for n in ev.benchmarks):
        notes.append(f"AIME: {ev.aime_samples} samples per problem at temperature {ev.temperature}, "
                     "reported as mean ± standard error, never a single pass (30 problems are too few).")
    if "math_500" in ev.benchmarks:
        notes.append("MATH-500: evalscope applies a limit per difficulty level; the cookbook divides the "
                     "limit evenly among the five levels.")
    return Protocol(
        profile=recipe.profile,
        benchmarks=tuple(plans),
        temperature=float(ev.temperature),
        top_p=float(ev.top_p),
        max_tokens=ev.max_tokens or profile.max_new_tokens,
        batch_size=ev.batch_size,
        serve=ev.serve,
        dataset_hub=os.environ.get("DISTILL_HUB", "modelscope"),
        dataset_dir=None if all(p.local_path for p in plans) else str(evalscope_dataset_dir()),
        seed=recipe.seed,
        notes=tuple(notes),
    )


def evalscope_dataset_dir():
    """evalscope's dataset cache for hub benchmarks: <cache>/evalscope (filled by `make download`),
    or $DISTILL_EVALSCOPE_DIR: a rehearsal's own, so that its stand-in rows never reach the cache a
    real evaluation reads."""
    private = os.environ.get("DISTILL_EVALSCOPE_DIR")
    return Path(private) if private else cache_dir() / "evalscope"
