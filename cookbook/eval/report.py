"""The comparison report: a table model x benchmark, two charts, the protocol, evalscope's reports.

    runs/<name>/report/
      report.md  report.html   the same content, for GitHub and for a browser
      scores.png               grouped bars: one group per benchmark, one bar per model, ± 1 s.e.
      accuracy_vs_tokens.png   accuracy against mean CoT tokens per answer (per math benchmark)
      results.json             every number of the tables, and the protocol
      evalscope/report.html    evalscope's own interactive report over all models
"""

from __future__ import annotations

import html
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from cookbook.eval.candidates import Candidate
from cookbook.eval.protocol import MATH, PRETTY, Protocol
from cookbook.eval.results import BenchmarkResult, Paired, paired
from cookbook.io import atomic_write_json, atomic_write_text

ROLE_COLOURS = {"teacher": "#4c72b0", "base": "#8c8c8c"}
DISTILLED_COLOURS = ["#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#ccb974", "#64b5cd"]


def _index(results: Sequence[BenchmarkResult]) -> dict[tuple[str, str], BenchmarkResult]:
    return {(r.model, r.benchmark): r for r in results}


def _models(results: Sequence[BenchmarkResult]) -> list[str]:
    return list(dict.fromkeys(r.model for r in results))


def _benchmarks(results: Sequence[BenchmarkResult]) -> list[str]:
    return list(dict.fromkeys(r.benchmark for r in results))


def _frame(results: Sequence[BenchmarkResult], cell, benchmarks: Sequence[str] | None = None,
           missing=None) -> pd.DataFrame:
    """Model x benchmark, each cell ``cell(result)``."""
    idx = _index(results)
    models, benches = _models(results), benchmarks or _benchmarks(results)
    return pd.DataFrame([[cell(idx[(m, b)]) if (m, b) in idx else missing for b in benches] for m in models],
                        index=pd.Index(models, name="model"), columns=[PRETTY.get(b, b) for b in benches])


def score_table(results: Sequence[BenchmarkResult]) -> pd.DataFrame:
    """Model x benchmark, "95.0 ± 1.5" (percent, one standard error)."""
    return _frame(results, format_score, missing="")


def format_score(r: BenchmarkResult) -> str:
    return f"{100 * r.score:.1f} ± {100 * r.stderr:.1f}"


def token_table(results: Sequence[BenchmarkResult]) -> pd.DataFrame:
    """Model x math benchmark: mean tokens per answer (IFEval's answers are no chains of thought)."""
    return _frame(results, lambda r: r.mean_tokens, [b for b in _benchmarks(results) if b in MATH]).round(0)


def reference_student(candidates: Sequence[Candidate]) -> str | None:
    """The SFT student, which the later stages start from: every method is compared with it."""
    distilled = [c for c in candidates if c.role == "distilled"]
    return next((c.name for c in distilled if c.stage == "sft"), distilled[0].name if distilled else None)


def versus_reference(results: Sequence[BenchmarkResult], candidates: Sequence[Candidate]) -> dict:
    """Each other distilled student minus the SFT student, per benchmark, paired on the same problems."""
    idx = _index(results)
    ref = reference_student(candidates)
    out: dict[str, dict[str, Paired]] = {}
    for c in candidates:
        if c.role != "distilled" or c.name == ref:
            continue
        for bench in _benchmarks(results):
            a, b = idx.get((c.name, bench)), idx.get((ref, bench))
            p = paired(a, b) if a and b else None
            if p is not None:
                out.setdefault(c.name, {})[bench] = p
    return out


def versus_table(results: Sequence[BenchmarkResult], candidates: Sequence[Candidate]) -> pd.DataFrame:
    """Model x benchmark: points above the SFT student ± the paired error, and whether beyond noise."""
    rows = {model: {PRETTY.get(b, b): f"{100 * p.diff:+.1f} ± {100 * p.stderr:.1f}"
                    f"{' (significant)' if p.significant else ' (noise)'}" for b, p in by_bench.items()}
            for model, by_bench in versus_reference(results, candidates).items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def published_table(results: Sequence[BenchmarkResult], published) -> pd.DataFrame:
    """The published gain (eval.published) beside the one measured here, paired on the same problems."""
    idx = _index(results)
    a, b = idx.get((published.model, published.benchmark)), idx.get((published.against, published.benchmark))
    measured = paired(a, b) if a is not None and b is not None else None
    shown = "not measured (a model is missing)" if measured is None else \
        f"{100 * measured.diff:+.1f} ± {100 * measured.stderr:.1f}"
    return pd.DataFrame({"published": [f"{published.gain:+.1f}"], "measured here": [shown],
                         "source": [published.source]},
                        index=[f"{PRETTY.get(published.benchmark, published.benchmark)}: "
                               f"{published.model} - {published.against}"])


def headline(results: Sequence[BenchmarkResult], candidates: Sequence[Candidate], benchmark: str = "gsm8k") -> dict:
    """Teacher, base and the best distilled student on one benchmark, the gain over the base, and
    whether the best is beyond noise of the SFT student (paired on the same problems)."""
    idx = _index(results)
    roles = {c.name: c.role for c in candidates}

    def score(name):
        r = idx.get((name, benchmark))
        return None if r is None else r.score

    teacher = next((c.name for c in candidates if c.role == "teacher"), None)
    base = next((c.name for c in candidates if c.role == "base"), None)
    distilled = [n for n, role in roles.items() if role == "distilled" and score(n) is not None]
    best = max(distilled, key=score, default=None)
    out = {"benchmark": benchmark, "teacher": score(teacher), "base": score(base),
           "best_distilled": best, "best_distilled_score": score(best) if best else None,
           "distilled_range": [min(map(score, distilled)), max(map(score, distilled))] if distilled else None}
    if best is not None and out["base"] is not None:
        out["gain_over_base"] = out["best_distilled_score"] - out["base"]
    ref = reference_student(candidates)
    vs = versus_reference(results, candidates).get(best, {}).get(benchmark) if best else None
    out |= {"reference": ref, "best_vs_reference": None if vs is None else
            {"diff": vs.diff, "stderr": vs.stderr, "significant": vs.significant}}
    return out


def _colours(models: Sequence[str], candidates: Sequence[Candidate]) -> dict[str, str]:
    roles = {c.name: c.role for c in candidates}
    colours, k = {}, 0
    for m in models:
        if roles.get(m) in ROLE_COLOURS:
            colours[m] = ROLE_COLOURS[roles[m]]
        else:
            colours[m] = DISTILLED_COLOURS[k % len(DISTILLED_COLOURS)]
            k += 1
    return colours


def scores_chart(results: Sequence[BenchmarkResult], candidates: Sequence[Candidate], path: str | Path,
                 title: str = "Accuracy by benchmark (± 1 standard error)"):
    """Grouped bars: one group per benchmark, one bar per model, error bars of one standard error."""
    models, benches = _models(results), _benchmarks(results)
    idx = _index(results)
    colours = _colours(models, candidates)
    width = 0.8 / max(1, len(models))
    fig, ax = plt.subplots(figsize=(max(7, 1.3 * len(benches) + 0.35 * len(models) * len(benches)), 4))
    for i, m in enumerate(models):
        xs = [j + (i - (len(models) - 1) / 2) * width for j in range(len(benches))]
        ys = [idx[(m, b)].score if (m, b) in idx else 0 for b in benches]
        es = [idx[(m, b)].stderr if (m, b) in idx else 0 for b in benches]
        ax.bar(xs, ys, width, yerr=es, capsize=2, label=m, color=colours[m], error_kw={"linewidth": 0.8})
    ax.set_xticks(range(len(benches)), [PRETTY.get(b, b) for b in benches])
    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=min(4, len(models)), loc="upper right")
    fig.tight_layout()
    _save(fig, path)
    return fig


def tokens_chart(results: Sequence[BenchmarkResult], candidates: Sequence[Candidate], path: str | Path):
    """Accuracy against mean CoT tokens per answer, one panel per math benchmark: accuracy per token spent."""
    benches = [b for b in _benchmarks(results) if b in MATH]
    models = _models(results)
    idx = _index(results)
    colours = _colours(models, candidates)
    fig, axes = plt.subplots(1, max(1, len(benches)), figsize=(3.6 * max(1, len(benches)), 3.4), squeeze=False)
    for ax, b in zip(axes[0], benches):
        for m in models:
            r = idx.get((m, b))
            if r is None or r.mean_tokens is None:
                continue
            ax.errorbar(r.mean_tokens, r.score, yerr=r.stderr, fmt="o", color=colours[m], capsize=2, label=m)
            ax.annotate(m, (r.mean_tokens, r.score), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set_title(PRETTY.get(b, b), fontsize=10)
        ax.set_xlabel("mean tokens per answer")
        ax.set_ylim(-0.05, 1.05)
        ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy")
    fig.suptitle("Accuracy against the tokens spent per answer (up and to the left is better)", fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    return fig


def _save(fig, path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    os.replace(tmp, path)


def combined_evalscope_report(results: Sequence[BenchmarkResult], folder: str | Path) -> Path | None:
    """evalscope's own HTML report over every model and benchmark (its report JSONs copied together)."""
    from evalscope.report import gen_html_report_file

    folder = Path(folder)
    shutil.rmtree(folder, ignore_errors=True)
    for r in results:
        target = folder / r.model / Path(r.report_json).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(r.report_json, target)
    try:
        return Path(gen_html_report_file(str(folder)))
    except Exception as exc:  # a convenience: our own tables do not depend on it, so say why and go on
        print(f"evalscope's combined report was not written: {type(exc).__name__}: {exc}")
        return None


# ---- markdown and HTML from one list of blocks -------------------------------------------

def _md_table(df: pd.DataFrame) -> str:
    cols = [df.index.name or ""] + [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for name, row in df.iterrows():
        cells = [str(name)] + ["" if pd.isna(v) else str(v) for v in row]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(lines)


def _render(blocks: list[tuple], kind: str) -> str:
    out = []
    for block in blocks:
        tag, *args = block
        if kind == "md":
            if tag in ("h1", "h2"):
                out.append(("# " if tag == "h1" else "## ") + args[0])
            elif tag == "p":
                out.append(args[0])
            elif tag == "table":
                out.append(_md_table(args[0]))
            elif tag == "img":
                out.append(f"![{args[1]}]({args[0]})")
            elif tag == "ul":
                out.append("\n".join(f"- {item}" for item in args[0]))
        else:
            if tag in ("h1", "h2"):
                out.append(f"<{tag}>{html.escape(args[0])}</{tag}>")
            elif tag == "p":
                out.append(f"<p>{_inline_html(args[0])}</p>")
            elif tag == "table":
                out.append(_html_table(args[0]))
            elif tag == "img":
                out.append(f'<p><img src="{html.escape(args[0])}" alt="{html.escape(args[1])}"></p>')
            elif tag == "ul":
                out.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in args[0]) + "</ul>")
    if kind == "md":
        return "\n\n".join(out) + "\n"
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
             "table.scores{border-collapse:collapse;margin:1em 0}"
             "table.scores td,table.scores th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
             "img{max-width:100%}code{background:#f4f4f4;padding:0 3px}")
    return (f"<!doctype html>\n<html><head><meta charset='utf-8'><title>Distillation report</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(out) + "\n</body></html>\n")


def _inline_html(text: str) -> str:
    """Escape, then turn [label](href) links and `code` into HTML."""
    import re

    escaped = html.escape(text)
    escaped = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r'<a href="\2">\1</a>', escaped)
    escaped = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def write_report(folder: str | Path, results: Sequence[BenchmarkResult], candidates: Sequence[Candidate],
                 protocol: Protocol, title: str = "Distillation report", run_name: str = "",
                 server_check: dict | None = None, published=None) -> dict[str, Path]:
    """Write report.md, report.html, results.json and the charts into ``folder``; returns their paths.

    ``published``: the recipe's eval.published, a published gain the report sets beside the measured one.

    ``server_check``: what :func:`cookbook.eval.stage.server_check` measured, shown under the protocol.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    scores_png = folder / "scores.png"
    tokens_png = folder / "accuracy_vs_tokens.png"
    plt.close(scores_chart(results, candidates, scores_png))
    plt.close(tokens_chart(results, candidates, tokens_png))
    evalscope_html = combined_evalscope_report(results, folder / "evalscope")

    roles = {c.name: c.role for c in candidates}
    table = score_table(results)
    table.insert(0, "role", [roles.get(m, "") for m in table.index])
    tokens = token_table(results).astype("Int64")
    head = headline(results, candidates)
    blocks: list[tuple] = [("h1", f"{title}{f': {run_name}' if run_name else ''}")]
    if head.get("best_distilled"):
        blocks.append(("p", headline_sentence(head)))
    blocks += [
        ("h2", "Scores (percent, ± one standard error)"),
        ("table", table),
        ("img", scores_png.name, "accuracy by benchmark"),
    ]
    if published is not None:
        blocks += [("h2", "Against the published result (points)"),
                   ("p", "The gain this run repeats, as published and as measured here (± the standard error of "
                         "the per-problem differences; a smaller evaluation has a larger one)."),
                   ("table", published_table(results, published))]
    versus = versus_table(results, candidates)
    if not versus.empty:
        blocks += [
            ("h2", "Against the SFT student (points, paired on the same problems)"),
            ("p", f"Each later stage starts from the SFT student ({reference_student(candidates)}). Its score minus "
                  "the SFT student's, ± the standard error of the per-problem differences: beyond two of them "
                  "it is marked significant, else noise (a ranking within noise is no finding)."),
            ("table", versus),
        ]
    blocks += [
        ("h2", "Accuracy per token spent"),
        ("p", "Mean tokens per answer (reasoning and final answer). Variable-length CoT distillation aims "
              "at the upper left: the teacher's accuracy with fewer tokens."),
        ("table", tokens),
        ("img", tokens_png.name, "accuracy against mean tokens per answer"),
        ("h2", "Protocol"),
        ("p", "Every model was evaluated with the same settings, by evalscope:"),
        ("ul", [f"{k}: {v}" for k, v in protocol.settings().items()]),
        ("table", pd.DataFrame(protocol.rows()).set_index("benchmark")),
    ]
    if protocol.notes:
        blocks.append(("ul", list(protocol.notes)))
    blocks += [
        ("h2", "What was scored"),
        ("p", "Read back from evalscope's reviews, per benchmark: the data's content hash (a local folder's "
              "files; the hub's copy is named by its dataset id), the problems and answers scored (checked "
              "against the protocol: a mismatch fails the evaluation), a hash of the prompts scored (the same "
              "for every model) and the first and last problem."),
        ("table", scored_table(results, protocol)),
    ]
    if server_check:
        blocks.append(("p", server_check_sentence(server_check)))
    blocks.append(("h2", "Models"))
    blocks.append(("table", pd.DataFrame(
        [{"model": c.name, "role": c.role, "stage": c.stage or "", "evaluated as": "API" if c.is_api else "checkpoint",
          "source": c.model if c.is_api else _short(c.model)} for c in candidates]).set_index("model")))
    blocks.append(("h2", "evalscope's own reports"))
    if evalscope_html:
        blocks.append(("p", f"[evalscope's report over all models]({os.path.relpath(evalscope_html, folder)}) "
                            "(interactive charts need internet for Plotly; its tables do not)."))
    blocks.append(("p", "Each run's own folder holds evalscope's report, predictions and reviews (every answer "
                        "and how it was scored):"))
    blocks.append(("table", run_links(results, folder)))

    md = atomic_write_text(folder / "report.md", _render(blocks, "md"))
    page = atomic_write_text(folder / "report.html", _render(blocks, "html"))
    data = atomic_write_json(folder / "results.json", {
        "results": [r.to_dict() for r in results], "candidates": [c.to_dict() for c in candidates],
        "protocol": protocol.to_dict(), "headline": head, "server_check": server_check,
    })
    out = {"report_md": md, "report_html": page, "results": data, "scores_chart": scores_png,
           "tokens_chart": tokens_png}
    if evalscope_html:
        out["evalscope_report"] = evalscope_html
    return out


def scored_table(results: Sequence[BenchmarkResult], protocol: Protocol) -> pd.DataFrame:
    """One row per benchmark: what every model was scored on (cookbook.eval.stage.check_scored made sure)."""
    rows = []
    for bench in _benchmarks(results):
        first = next(r for r in results if r.benchmark == bench)
        rows.append({
            "benchmark": PRETTY.get(bench, bench),
            "data sha256": f"`{first.data_sha256[:16]}`" if first.data_sha256 else f"{protocol.dataset_hub} hub",
            "problems": first.problems,
            "answers per model": first.answers,
            "prompts sha256": f"`{first.problems_sha256[:16]}`",
            "first problem": first.first_problem,
            "last problem": first.last_problem,
        })
    return pd.DataFrame(rows).set_index("benchmark")


def headline_sentence(head: dict) -> str:
    """The headline in words. It names a best method only when it is beyond noise of the SFT
    student; a model left out of the run (no teacher, no base) is left out of it."""
    bench = PRETTY.get(head["benchmark"], head["benchmark"])
    vs = head.get("best_vs_reference")
    low, high = head.get("distilled_range") or (head["best_distilled_score"],) * 2
    if vs and vs["significant"] and vs["diff"] > 0:
        sentence = (f"On {bench}, the best distilled student, **{head['best_distilled']}**, scores "
                    f"{100 * head['best_distilled_score']:.1f}%, {100 * vs['diff']:+.1f} ± {100 * vs['stderr']:.1f} "
                    f"points over the SFT student ({head['reference']}, paired on the same problems)")
    elif vs:
        sentence = (f"On {bench}, the distilled students score {100 * low:.1f}-{100 * high:.1f}%: no method is "
                    f"beyond noise of the SFT student ({head['reference']}; the top score, "
                    f"**{head['best_distilled']}**, is {100 * vs['diff']:+.1f} ± {100 * vs['stderr']:.1f} points "
                    "from it, paired on the same problems), so this run ranks none of them")
    else:
        sentence = (f"On {bench}, the best distilled student, **{head['best_distilled']}**, scores "
                    f"{100 * head['best_distilled_score']:.1f}%")
    if head.get("base") is not None:
        sentence += (f"; the base student scores {100 * head['base']:.1f}% "
                     f"({100 * head['gain_over_base']:+.1f} points for the best)")
    if head.get("teacher") is not None:
        sentence += f"; the teacher scores {100 * head['teacher']:.1f}%"
    return sentence + "."


def server_check_sentence(check: dict) -> str:
    served = "no score" if check.get("served") is None else f"{100 * check['served']:.1f}%"
    ckpt = "no score" if check.get("checkpoint") is None else f"{100 * check['checkpoint']:.1f}%"
    return (f"**Server check.** {check['model']} behind `swift deploy` (an OpenAI-compatible server, "
            f"{check['concurrency']} requests in flight) scored {served} on the first {check['problems']} GSM8K "
            f"problems, its checkpoint {ckpt} on the same problems (one sample each: they differ by sampling noise).")


def run_links(results: Sequence[BenchmarkResult], folder: Path) -> pd.DataFrame:
    """Model x benchmark: a link to each evalscope run's own HTML report."""
    idx = _index(results)
    models, benches = _models(results), _benchmarks(results)
    rows = []
    for m in models:
        row = {}
        for b in benches:
            r = idx.get((m, b))
            if r is not None and r.report_html:
                row[PRETTY.get(b, b)] = f"[report]({os.path.relpath(r.report_html, folder)})"
            else:
                row[PRETTY.get(b, b)] = ""
        rows.append(row)
    return pd.DataFrame(rows, index=pd.Index(models, name="model"))


def _html_table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in [df.index.name or "", *df.columns])
    body = []
    for name, row in df.iterrows():
        cells = [f"<th>{html.escape(str(name))}</th>"]
        cells += [f"<td>{'' if pd.isna(v) else _inline_html(str(v))}</td>" for v in row]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="scores"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _short(path: str) -> str:
    """A model folder shown relative to the project or the cache, not as a long absolute path."""
    from cookbook.paths import project_root

    try:
        return str(Path(path).resolve().relative_to(project_root()))
    except ValueError:
        return path


def metrics(results: Sequence[BenchmarkResult], candidates: Sequence[Candidate], protocol: Protocol) -> dict:
    """The manifest's metrics for the eval stage: scores, standard errors, tokens, roles, the headline."""
    def nested(field):
        out: dict = {}
        for r in results:
            v = getattr(r, field)
            out.setdefault(r.model, {})[r.benchmark] = None if v is None else round(float(v), 6)
        return out

    return {
        "scores": nested("score"), "stderr": nested("stderr"), "mean_tokens": nested("mean_tokens"),
        "problems": nested("problems"), "samples": nested("samples"), "answers": nested("answers"),
        "data_sha256": {r.benchmark: r.data_sha256 for r in results},
        "prompts_sha256": {r.benchmark: r.problems_sha256 for r in results},
        "roles": {c.name: c.role for c in candidates},
        "headline": headline(results, candidates),
        "protocol": protocol.fingerprint(),
    }
