"""The probe: the problems, prompt and token budget every training stage is scored on.

Notebooks 02-06 score each stage before and after on the same problems with
:func:`cookbook.eval.quick.score`. The recipe's ``probe`` section names them:

* ``problems: tiny-world:gsm8k_test``: the tiny world's toy GSM8K test split (200 problems);
* ``problems: {benchmark: gsm8k, size: 200}``: the *last* 200 problems of GSM8K's test split,
  read from where notebook 07's evaluation reads GSM8K (``eval.local.gsm8k`` when given,
  else evalscope's dataset cache / the hub). 07 scores the *first* ``eval.limit`` problems, so
  the probe and the evaluation do not share a problem while both fit in the split.

The prompt is the evaluation's (``eval.prompt``), and the token budget ``probe.max_new_tokens``,
else the evaluation's (``eval.max_tokens``, else the profile's: tiny 320, workshop 4096): a real
student's R1-style chains are thousands of tokens, and a chain cut off at the toy world's 320
scores zero.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from cookbook.data.questions import ground_truth
from cookbook.recipe import BenchmarkSlice, Recipe

TOY_DEFAULT = "tiny-world:gsm8k_test"
SPLIT = "test"
SUBSET = "main"  # GSM8K's config (the other, "socratic", asks sub-questions)
DELIM = "####"


@dataclass(frozen=True)
class ProbeProblem:
    """One benchmark problem: the question and the final answer after GSM8K's ``####``."""

    id: str
    question: str
    answer: str


@dataclass(frozen=True)
class Probe(Sequence):
    """The probe's problems (a sequence: ``probe[:3]`` is a Probe of the first three), with its name,
    the user prompt (``{question}`` replaced) and the new tokens a stage's scorer may write."""

    name: str
    problems: tuple
    prompt: str
    max_new_tokens: int
    template_kwargs: dict = field(default_factory=dict)  # the chat template's, e.g. Qwen3's enable_thinking

    def __len__(self) -> int:
        return len(self.problems)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return replace(self, problems=self.problems[index])
        return self.problems[index]

    def messages(self, question: str) -> list[dict]:
        return chat(question, self.prompt)

    def conversations(self) -> list[list[dict]]:
        return [self.messages(p.question) for p in self.problems]


def chat(question: str, prompt: str) -> list[dict]:
    """The user turn of a probe problem. ``replace``, not ``str.format``: a prompt may hold other
    braces (``\\boxed{}``). With the evaluation's default prompt this is exactly the tiny world's
    ``cookbook.toy.prompts.chat_messages(question)``."""
    return [{"role": "user", "content": prompt.replace("{question}", question)}]


def settings(recipe: Recipe) -> tuple[str, int]:
    """The probe's user prompt and new tokens per answer, without reading its problems (02's
    base-student answers are generated this way too)."""
    tokens = recipe.probe.max_new_tokens or recipe.eval.max_tokens or recipe.profile_info.max_new_tokens
    return recipe.eval.prompt, tokens


def probe(recipe: Recipe, world=None) -> Probe:
    """The recipe's probe. ``world``: the tiny world for ``tiny-world:`` splits (loaded if None)."""
    problems = recipe.probe.problems
    if problems is None:  # the default follows where the evaluation's benchmarks come from
        problems = TOY_DEFAULT if recipe.eval.local == "tiny-world" else BenchmarkSlice(benchmark="gsm8k")
    _, tokens = settings(recipe)
    if isinstance(problems, str):
        split = problems.split(":", 1)[1]
        if world is None:
            from cookbook.toy.world import load_world

            world = load_world()
        name = "toy GSM8K test" if split == "gsm8k_test" else f"toy {split}"
        return Probe(name, tuple(world.problems(split)), recipe.eval.prompt, tokens, _template_kwargs(recipe))
    benchmark, size = problems.benchmark, problems.size
    rows = benchmark_split(recipe, benchmark, world)
    if len(rows) < size:
        raise ValueError(f"{recipe.source}: probe.problems asks for the last {size} of {benchmark}'s {SPLIT} split, "
                         f"which has {len(rows)} problems; lower probe.problems.size")
    _warn_on_overlap(recipe, benchmark, len(rows), size)
    from cookbook.eval.protocol import PRETTY

    return Probe(f"{PRETTY.get(benchmark, benchmark)} {SPLIT}, last {size}", tuple(rows[-size:]),
                 recipe.eval.prompt, tokens, _template_kwargs(recipe))


def _template_kwargs(recipe: Recipe) -> dict:
    from cookbook.serving import chat_template_kwargs

    return chat_template_kwargs(recipe.train.thinking)


def probe_problems(recipe: Recipe, world=None) -> Probe:
    """The problems every stage scores on (a :class:`Probe`: name, prompt and tokens with them)."""
    return probe(recipe, world)


def _warn_on_overlap(recipe: Recipe, benchmark: str, total: int, size: int) -> None:
    limit = recipe.eval.limit
    limit = limit.get(benchmark, recipe.profile_info.eval_limit) if isinstance(limit, dict) else (
        limit if limit is not None else recipe.profile_info.eval_limit)
    evaluated = total if limit is None else min(limit, total)
    if benchmark in recipe.eval.benchmarks and evaluated + size > total:
        warnings.warn(f"{recipe.source}: 07 evaluates the first {evaluated} of {benchmark}'s {total} {SPLIT} "
                      f"problems and the probe is the last {size}: {evaluated + size - total} are in both "
                      "(lower eval.limit or probe.problems.size to keep them apart)", stacklevel=3)


# ---------------------------------------------------------------- reading a benchmark's test split

def benchmark_split(recipe: Recipe, benchmark: str, world=None) -> list[ProbeProblem]:
    """The benchmark's whole test split, in the evaluation's order, from where 07 reads it."""
    from cookbook.eval.protocol import protocol_from_recipe

    if benchmark != "gsm8k":
        raise ValueError(f"{recipe.source}: probe.problems.benchmark: only gsm8k is read so far, got {benchmark!r}")
    local = recipe.eval.local
    if local == "tiny-world":
        if world is None:
            from cookbook.toy.world import load_world

            world = load_world()
        return read_gsm8k_folder(world.benchmark_dir(benchmark), "eval.local: tiny-world", recipe.source)
    if isinstance(local, dict) and benchmark in local:
        from cookbook.paths import resolve

        return read_gsm8k_folder(resolve(local[benchmark]), f"eval.local.{benchmark}", recipe.source)
    protocol = protocol_from_recipe(recipe, world)
    return read_gsm8k_hub(protocol.dataset_dir, protocol.dataset_hub, recipe.source)


def parse_gsm8k(rows: Sequence[dict], origin: str) -> list[ProbeProblem]:
    """GSM8K rows (question, answer with the final number after ``####``), as evalscope reads them."""
    out = []
    for i, row in enumerate(rows):
        answer = str(row.get("answer", ""))
        if "question" not in row or DELIM not in answer:
            raise ValueError(f"{origin}: row {i + 1} is not a GSM8K row (question, and an answer ending "
                             f"'{DELIM} <number>'): keys {sorted(row)}")
        # The final number as 02 reads ground truths (commas dropped: "1,234" is 1234, not a pair)
        out.append(ProbeProblem(f"gsm8k/{SPLIT}/{i}", row["question"], ground_truth(answer)))
    return out


def read_gsm8k_folder(folder: Path, key: str, source: str) -> list[ProbeProblem]:
    """GSM8K's test split from a folder in the hub's layout (the tiny world's, openai/gsm8k's)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{source}: {key}: benchmark folder {folder} does not exist")
    from cookbook.data.sources import SourceError, iter_file_rows, split_files

    try:
        files = split_files(folder, SPLIT, SUBSET)  # the data loaders' rule: the card's configs, else names
    except SourceError:
        files = []
    if not files:
        raise FileNotFoundError(f"{source}: {key}: no {SUBSET}/{SPLIT} split in {folder} (looked for README.md's "
                                f"configs, then {SUBSET}/{SPLIT}*.jsonl|parquet and {SPLIT}*.jsonl|parquet)")
    rows = [row for f in files for _, _, row in iter_file_rows(f)]
    return parse_gsm8k(rows, f"{source}: {key} ({folder})")


def read_gsm8k_hub(dataset_dir: str | None, hub: str, source: str) -> list[ProbeProblem]:
    """GSM8K's test split through evalscope's own loader, from its dataset cache (``make download``
    fills it ahead); the same cache, split and order that notebook 07 evaluates."""
    from cookbook.hub import is_offline

    if is_offline() and not _hub_cached(dataset_dir):
        raise FileNotFoundError(
            f"{source}: probe.problems reads GSM8K's {SPLIT} split, but it is not in evalscope's dataset cache "
            f"({dataset_dir}) and the hub is offline: run `make download RECIPE={source}` on a machine with "
            "internet, or give a folder as eval.local.gsm8k")
    from evalscope import TaskConfig
    from evalscope.api.registry import get_benchmark

    where = {"dataset_dir": dataset_dir} if dataset_dir else {}
    config = TaskConfig(model="probe-only", eval_type="mock_llm", datasets=["gsm8k"],
                        dataset_args={"gsm8k": {"few_shot_num": 0}}, dataset_hub=hub, **where)
    test, _ = get_benchmark("gsm8k", config).load()  # the raw samples, before any prompt is applied
    samples = [s for subset in test.values() for s in subset]
    return [ProbeProblem(f"gsm8k/{SPLIT}/{i}", s.input, str(s.target)) for i, s in enumerate(samples)]


def _hub_cached(dataset_dir: str | None) -> bool:
    root = Path(dataset_dir) / "datasets" if dataset_dir else None
    return bool(root and root.is_dir() and any("gsm8k" in p.name.lower() for p in root.iterdir()))
