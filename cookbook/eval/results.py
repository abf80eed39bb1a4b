"""Read what evalscope scored, answer by answer, and summarise it: mean, standard error, tokens.

evalscope's report gives one number per benchmark. The comparison needs two more:

* the **standard error**: with k samples per problem, the score is the mean over problems
  of the per-problem mean; its standard error is the standard deviation of the
  per-problem means divided by sqrt(problems). It covers both the luck of the sampling
  and the choice of problems, and it is what makes "30 AIME problems" honest;
* the **mean CoT tokens** per answer (reasoning + final answer), counted with one
  tokenizer for every model, so accuracy can be read against the tokens spent.

Both come from evalscope's reviews files (one JSON line per scored answer). The mean over
problems is kept as ``BenchmarkResult.mean`` beside evalscope's own report score: they are
equal when every answer was scored (tests/test_eval_resume.py checks that on a real run).
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

TokenCounter = Callable[[str], int]


@dataclass
class BenchmarkResult:
    model: str
    benchmark: str
    score: float  # evalscope's report score (the headline number)
    mean: float  # mean over problems of the per-problem mean (equals score when every answer was scored)
    stderr: float
    problems: int
    samples: int  # samples per problem
    per_sample_run: list[float] = field(default_factory=list)  # accuracy of the 1st, 2nd, ... sample of each problem
    mean_tokens: float | None = None
    report_json: str = ""
    report_html: str = ""
    # What was scored, read back from the reviews (cookbook.eval.stage checks it against the plan):
    answers: int = 0  # scored answers, all samples of all problems
    data_sha256: str | None = None  # the local benchmark folder's content hash (None: a hub benchmark)
    problems_sha256: str = ""  # hash of the prompts scored, in problem order: equal for every model
    first_problem: str = ""  # "<subset>#<id>: <start of the prompt>"
    last_problem: str = ""
    problem_means: list[float] = field(default_factory=list)  # per problem, in problem order: paired comparisons

    def to_dict(self) -> dict:
        return asdict(self)


def mean_and_stderr(per_problem: Sequence[Sequence[float]]) -> tuple[float, float]:
    """Mean over problems of the per-problem mean, and its standard error."""
    means = [sum(s) / len(s) for s in per_problem if len(s)]
    if not means:
        return 0.0, 0.0
    mean = sum(means) / len(means)
    if len(means) < 2:
        return mean, 0.0
    return mean, statistics.stdev(means) / math.sqrt(len(means))


@dataclass(frozen=True)
class Paired:
    """One model's score minus another's on the same problems, with the standard error of the
    per-problem differences: far smaller than either score's own error when the two models
    get mostly the same problems right, as a student and the student it was trained from do."""

    diff: float
    stderr: float

    @property
    def significant(self) -> bool:
        """Beyond two standard errors (a difference with no spread at all counts when it is not 0)."""
        return abs(self.diff) > 2 * self.stderr


def paired(a: BenchmarkResult, b: BenchmarkResult) -> Paired | None:
    """``a - b`` paired on the problems both scored; None when they scored different problems."""
    if a.problems_sha256 != b.problems_sha256 or not a.problem_means or len(a.problem_means) != len(b.problem_means):
        return None
    return Paired(*mean_and_stderr([[x - y] for x, y in zip(a.problem_means, b.problem_means)]))


def per_run_accuracy(rows: Iterable[dict]) -> list[float]:
    """Accuracy of sample 1, sample 2, ... taken across problems (k numbers for k samples)."""
    by_index: dict[int, list[float]] = defaultdict(list)
    for r in rows:
        by_index[r["generation_index"]].append(r["value"])
    return [sum(v) / len(v) for _, v in sorted(by_index.items())]


def review_rows(work_dir: str | Path, model: str, benchmark: str) -> list[dict]:
    """One row per scored answer: problem key, sample index, score, answer text."""
    folder = Path(work_dir) / "reviews" / model
    rows: dict[tuple, dict] = {}
    for path in sorted(folder.glob(f"{benchmark}_*.jsonl")):
        subset = path.stem[len(benchmark) + 1:]
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            ss = item["sample_score"]
            score = ss["score"]
            main = score.get("main_score_name") or next(iter(score["value"]), None)
            value = float(score["value"].get(main, 0.0)) if main else 0.0
            problem = ss.get("group_id") if ss.get("group_id") is not None else ss.get("sample_id")
            rows[(subset, ss.get("sample_id"))] = {  # a resumed run may repeat a line: keep the last
                "problem": (subset, problem),
                "generation_index": ss.get("generation_index") or 0,
                "value": value,
                "answer": answer_text(item.get("messages", [])),
                "prompt": prompt_text(item.get("messages", [])),
            }
    return list(rows.values())


def prompt_text(messages: list[dict]) -> str:
    """The problem as the model was asked it: the last user message before the answer."""
    for m in reversed(messages):
        if m.get("role") == "user":
            content = m.get("content")
            if isinstance(content, str):
                return content
            return "\n".join(c.get("text") or "" for c in content or [] if c.get("type") == "text")
    return ""


def scored_problems(rows: Sequence[dict]) -> list[tuple[tuple, str]]:
    """(problem key, prompt) of each problem scored, in problem order."""
    prompts = {r["problem"]: r["prompt"] for r in rows}
    return sorted(prompts.items(), key=lambda kv: (str(kv[0][0]), _order(kv[0][1])))


def _order(problem) -> tuple:
    return (0, problem, "") if isinstance(problem, int) else (1, 0, str(problem))


def problem_label(key: tuple, prompt: str, width: int = 60) -> str:
    text = " ".join(prompt.split())
    return f"{key[0]}#{key[1]}: {text[:width]}{'...' if len(text) > width else ''}"


def answer_text(messages: list[dict]) -> str:
    """The model's whole answer: reasoning (if the API or parser split it off) and final text."""
    for m in reversed(messages):
        if m.get("role") != "assistant":
            continue
        content = m.get("content")
        if isinstance(content, str):
            return content
        parts = []
        for c in content or []:
            if c.get("type") == "reasoning":
                parts.append(c.get("reasoning") or "")
            elif c.get("type") == "text":
                parts.append(c.get("text") or "")
        return "\n".join(p for p in parts if p)
    return ""


def summarise(work_dir: str | Path, model: str, benchmark: str,
              count_tokens: TokenCounter | None = None) -> BenchmarkResult:
    """The result of one finished evalscope run (``work_dir`` as cookbook.eval.runner made it)."""
    work_dir = Path(work_dir)
    report_json = work_dir / "reports" / model / f"{benchmark}.json"
    report = json.loads(report_json.read_text(encoding="utf-8"))
    score = float(report["metrics"][0]["score"])
    rows = review_rows(work_dir, model, benchmark)
    per_problem: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        per_problem[r["problem"]].append(r["value"])
    mean, stderr = mean_and_stderr(list(per_problem.values()))
    samples = max((len(v) for v in per_problem.values()), default=0)
    tokens = None
    if count_tokens is not None and rows:
        tokens = sum(count_tokens(r["answer"]) for r in rows) / len(rows)
    html = work_dir / "reports" / "report.html"
    problems = scored_problems(rows)
    digest = hashlib.sha256(json.dumps([[list(k), prompt] for k, prompt in problems]).encode()).hexdigest()
    id_file = work_dir / "identity.json"
    data_sha = json.loads(id_file.read_text()).get("data_sha256") if id_file.exists() else None
    return BenchmarkResult(
        model=model, benchmark=benchmark, score=score, mean=mean, stderr=stderr,
        problems=len(per_problem), samples=samples, per_sample_run=per_run_accuracy(rows),
        mean_tokens=tokens, report_json=str(report_json), report_html=str(html) if html.exists() else "",
        answers=len(rows), data_sha256=data_sha, problems_sha256=digest,
        first_problem=problem_label(*problems[0]) if problems else "",
        last_problem=problem_label(*problems[-1]) if problems else "",
        problem_means=[sum(per_problem[k]) / len(per_problem[k]) for k, _ in problems],
    )


def tokenizer_counter(model_dir: str | Path) -> TokenCounter:
    """Count tokens with one model's tokenizer (the same ruler for every model)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    return lambda text: len(tok(text, add_special_tokens=False)["input_ids"])
