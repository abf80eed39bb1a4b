"""The comparison report: statistics, tables, charts, protocol, candidates (no model runs)."""

import json
import math
import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from cookbook.eval.candidates import Candidate, distilled_students, label
from cookbook.eval.protocol import BenchmarkPlan, Protocol, protocol_from_recipe
from cookbook.eval.report import headline, metrics, score_table, scores_chart, token_table, tokens_chart, write_report
from cookbook.eval.results import BenchmarkResult, mean_and_stderr, per_run_accuracy, summarise
from cookbook.paths import project_root
from cookbook.recipe import RecipeError, load_recipe

PNG = b"\x89PNG\r\n\x1a\n"


# ---- statistics ---------------------------------------------------------------------------

def test_mean_and_stderr_over_problems_of_per_problem_means():
    # 3 problems x 4 samples: per-problem means 1.0, 0.5, 0.0
    mean, se = mean_and_stderr([[1, 1, 1, 1], [1, 0, 1, 0], [0, 0, 0, 0]])
    assert mean == pytest.approx(0.5)
    assert se == pytest.approx(0.5 / math.sqrt(3))  # stdev(1, .5, 0) = .5


def test_one_sample_per_problem_is_the_binomial_standard_error():
    scores = [[1]] * 30 + [[0]] * 70
    mean, se = mean_and_stderr(scores)
    assert mean == pytest.approx(0.3)
    assert se == pytest.approx(math.sqrt(0.3 * 0.7 / 99))  # sample variance n/(n-1)


def test_degenerate_cases():
    assert mean_and_stderr([]) == (0.0, 0.0)
    assert mean_and_stderr([[1, 0]]) == (0.5, 0.0)  # one problem: no spread to measure
    assert mean_and_stderr([[0, 0], [0, 0]]) == (0.0, 0.0)


def test_per_run_accuracy_takes_the_kth_sample_of_every_problem():
    rows = [{"generation_index": k, "value": v} for k, v in [(0, 1), (1, 0), (0, 1), (1, 1), (0, 0), (1, 0)]]
    assert per_run_accuracy(rows) == pytest.approx([2 / 3, 1 / 3])


# ---- reading evalscope's outputs ------------------------------------------------------------

def fake_run(folder: Path, model: str, bench: str, scores: list[list[float]], answer="<r> x", subset="default",
             score: float | None = None) -> Path:
    """An evalscope run folder as evalscope 1.14 writes it: reviews and report JSON."""
    lines, sid = [], 0
    for g, per_problem in enumerate(scores):
        for k, v in enumerate(per_problem):
            lines.append(json.dumps({
                "index": sid,
                "messages": [{"role": "user", "content": f"{subset} problem {g}"},
                             {"role": "assistant", "content": [{"type": "reasoning", "reasoning": answer},
                                                               {"type": "text", "text": "The answer is 1."}]}],
                "sample_score": {"score": {"value": {"acc": v, "other": 1.0}, "main_score_name": "acc"},
                                 "sample_id": sid, "group_id": g, "generation_index": k},
            }))
            sid += 1
    reviews = folder / "reviews" / model / f"{bench}_{subset}.jsonl"
    reviews.parent.mkdir(parents=True, exist_ok=True)
    reviews.write_text("\n".join(lines) + "\n")
    flat = [v for p in scores for v in p]
    report = folder / "reports" / model / f"{bench}.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps({"metrics": [{"score": score if score is not None else sum(flat) / len(flat)}]}))
    (folder / "reports" / "report.html").write_text("<html></html>")
    return folder


def test_summarise_reads_reviews_and_counts_tokens(tmp_path):
    run = fake_run(tmp_path / "r", "m", "aime24", [[1, 0, 0, 0], [1, 1, 1, 1]], answer="one two three")
    r = summarise(run, "m", "aime24", count_tokens=lambda text: len(text.split()))
    assert (r.problems, r.samples) == (2, 4)
    assert r.score == pytest.approx(5 / 8) and r.mean == pytest.approx(5 / 8)
    assert r.per_sample_run == pytest.approx([1.0, 0.5, 0.5, 0.5])
    assert r.mean_tokens == pytest.approx(3 + 4)  # reasoning and final answer
    assert r.report_html.endswith("reports/report.html")


def test_summarise_groups_problems_per_subset(tmp_path):
    run = tmp_path / "r"
    fake_run(run, "m", "math_500", [[1], [0]], subset="Level 1")
    fake_run(run, "m", "math_500", [[1], [1]], subset="Level 2", score=0.75)
    r = summarise(run, "m", "math_500")
    assert r.problems == 4 and r.mean == pytest.approx(0.75)


def test_a_resumed_run_that_repeats_a_line_counts_it_once(tmp_path):
    run = fake_run(tmp_path / "r", "m", "gsm8k", [[1], [0]], subset="main")
    path = run / "reviews" / "m" / "gsm8k_main.jsonl"
    path.write_text(path.read_text() + path.read_text().splitlines()[0] + "\n")
    assert summarise(run, "m", "gsm8k").problems == 2


def test_summarise_says_what_was_scored(tmp_path):
    run = fake_run(tmp_path / "r", "m", "gsm8k", [[1, 0], [0, 0], [1, 1]], subset="main")
    (run / "identity.json").write_text(json.dumps({"data_sha256": "ab" * 32}))
    r = summarise(run, "m", "gsm8k")
    assert (r.problems, r.answers, r.data_sha256) == (3, 6, "ab" * 32)
    assert (r.first_problem, r.last_problem) == ("main#0: main problem 0", "main#2: main problem 2")
    other = fake_run(tmp_path / "o", "m", "gsm8k", [[1, 0], [0, 0], [0, 1]], subset="main")
    assert summarise(other, "m", "gsm8k").problems_sha256 == r.problems_sha256  # same prompts, other answers
    (other / "reviews" / "m" / "gsm8k_main.jsonl").write_text(
        (other / "reviews" / "m" / "gsm8k_main.jsonl").read_text().replace("problem 2", "problem 7"))
    assert summarise(other, "m", "gsm8k").problems_sha256 != r.problems_sha256


def scored(tmp_path, model: str, scores, sha="cd" * 32, subset="main") -> BenchmarkResult:
    run = fake_run(tmp_path / model, model, "gsm8k", scores, subset=subset)
    (run / "identity.json").write_text(json.dumps({"data_sha256": sha}))
    return summarise(run, model, "gsm8k")


def test_the_stage_fails_when_evalscope_scored_other_counts_or_problems(tmp_path, monkeypatch):
    from cookbook.eval.stage import NotWhatWasPlanned, check_scored

    proto = Protocol(profile="tiny", benchmarks=(BenchmarkPlan("gsm8k", 3, 2, "{question}", "/data/gsm8k"),),
                     temperature=0.6, top_p=0.95, max_tokens=32, batch_size=4, serve="checkpoint")
    monkeypatch.setattr(BenchmarkPlan, "data_sha256", lambda self: "cd" * 32)
    good = [scored(tmp_path / "a", "m1", [[1, 0], [0, 0], [1, 1]]), scored(tmp_path / "a", "m2", [[1, 1]] * 3)]
    check_scored(good, proto)
    with pytest.raises(NotWhatWasPlanned, match=r"m1 on GSM8K .*4 answers were scored, the protocol asks for 6"):
        check_scored([scored(tmp_path / "b", "m1", [[1, 0], [0, 0]])], proto)
    with pytest.raises(NotWhatWasPlanned, match="6 answers to 2 problems"):
        check_scored([scored(tmp_path / "c", "m1", [[1, 0, 1], [0, 0, 1]])], proto)
    with pytest.raises(NotWhatWasPlanned, match="now holds"):
        check_scored([scored(tmp_path / "d", "m1", [[1, 0]] * 3, sha="ef" * 32)], proto)
    with pytest.raises(NotWhatWasPlanned, match="different problems"):
        check_scored([good[0], scored(tmp_path / "e", "m2", [[1, 1]] * 3, subset="other")], proto)


# ---- tables, charts, report -----------------------------------------------------------------

CANDIDATES = [Candidate("teacher", "teacher", "/t"), Candidate("student-base", "base", "/b"),
              Candidate("sft-full", "distilled", "/s", stage="sft"), Candidate("dpo", "distilled", "/d", stage="preference")]


def results_fixture(tmp_path) -> list[BenchmarkResult]:
    table = {"teacher": (0.95, 0.60, 0.05), "student-base": (0.02, 0.00, 0.0),
             "sft-full": (0.70, 0.40, 0.0), "dpo": (0.74, 0.42, 0.025)}
    out = []
    for model, scores in table.items():
        for bench, s in zip(["gsm8k", "math_500", "aime24"], scores):
            run = tmp_path / model / bench
            html = run / "reports" / "report.html"
            html.parent.mkdir(parents=True, exist_ok=True)
            html.write_text("<html></html>")
            rjson = run / "reports" / model / f"{bench}.json"
            rjson.parent.mkdir(parents=True, exist_ok=True)
            rjson.write_text(json.dumps({"metrics": [{"score": s}]}))
            out.append(BenchmarkResult(model, bench, s, s, 0.02, 100, 4 if bench == "aime24" else 1,
                                       [s], 100.0 + 10 * len(model), str(rjson), str(html),
                                       answers=100 * (4 if bench == "aime24" else 1), data_sha256="12" * 32,
                                       problems_sha256="34" * 32, first_problem="main#0: first",
                                       last_problem="main#99: last"))
    return out


def test_score_table_is_model_by_benchmark_with_standard_errors(tmp_path):
    table = score_table(results_fixture(tmp_path))
    assert list(table.index) == ["teacher", "student-base", "sft-full", "dpo"]
    assert list(table.columns) == ["GSM8K", "MATH-500", "AIME 2024"]
    assert table.loc["teacher", "GSM8K"] == "95.0 ± 2.0"


def test_headline_finds_the_best_distilled_student_and_its_gain(tmp_path):
    h = headline(results_fixture(tmp_path), CANDIDATES)
    assert h["best_distilled"] == "dpo"
    assert h["gain_over_base"] == pytest.approx(0.72)
    assert h["teacher"] == 0.95 and h["base"] == 0.02


def with_problems(results, model, right):
    """Give ``model``'s GSM8K result per-problem scores: the first ``right`` of 100 problems right."""
    return [replace(r, score=right / 100, problem_means=[1.0] * right + [0.0] * (100 - right))
            if (r.model, r.benchmark) == (model, "gsm8k") else r for r in results]


@pytest.mark.parametrize("dpo_right,significant", [(73, False), (90, True)])
def test_a_method_is_named_best_only_beyond_noise_of_the_sft_student(tmp_path, dpo_right, significant, monkeypatch):
    """Seven students at 61-64% +- 4.9 were once listed as if ranked. Paired on the same problems,
    3 more right of 100 is noise; 20 more, none fewer, is not."""
    import cookbook.eval.report as report

    monkeypatch.setattr(report, "combined_evalscope_report", lambda results, folder: None)
    results = with_problems(with_problems(results_fixture(tmp_path / "eval"), "sft-full", 70), "dpo", dpo_right)
    h = headline(results, CANDIDATES)
    assert h["reference"] == "sft-full" and h["best_distilled"] == "dpo"
    assert h["best_vs_reference"]["significant"] is significant
    md = write_report(tmp_path / "report", results, CANDIDATES, protocol_fixture())["report_md"].read_text()
    assert "## Against the SFT student" in md
    if significant:
        assert "**dpo**, scores 90.0%, +20.0 ± 4.0 points over the SFT student (sft-full" in md
        assert "+20.0 ± 4.0 (significant)" in md
    else:
        assert "no method is beyond noise of the SFT student" in md and "ranks none of them" in md
        assert "+3.0 ± 1.7 (noise)" in md


def test_charts_have_one_bar_per_model_and_benchmark_and_one_point_per_model(tmp_path):
    results = results_fixture(tmp_path)
    fig = scores_chart(results, CANDIDATES, tmp_path / "s.png")
    bars = [p for p in fig.axes[0].patches]
    assert len(bars) == 4 * 3
    assert (tmp_path / "s.png").read_bytes()[:8] == PNG
    fig = tokens_chart(results, CANDIDATES, tmp_path / "t.png")
    assert len(fig.axes) == 3  # one panel per math benchmark
    assert len(fig.axes[0].get_lines()) >= 4
    assert (tmp_path / "t.png").read_bytes()[:8] == PNG


def protocol_fixture() -> Protocol:
    return Protocol(profile="tiny", benchmarks=(
        BenchmarkPlan("gsm8k", 100, 1, "{question}\nPlease reason step by step.", "/x/gsm8k"),
        BenchmarkPlan("aime24", None, 4, "{question}\nPlease reason step by step.", "/x/aime24"),
    ), temperature=0.6, top_p=0.95, max_tokens=320, batch_size=64, serve="checkpoint")


def test_report_holds_table_charts_protocol_and_links_to_evalscope(tmp_path, monkeypatch):
    import cookbook.eval.report as report

    monkeypatch.setattr(report, "combined_evalscope_report", lambda results, folder: None)
    results = results_fixture(tmp_path / "eval")
    paths = write_report(tmp_path / "report", results, CANDIDATES, protocol_fixture(), run_name="demo")
    md = paths["report_md"].read_text()
    page = paths["report_html"].read_text()
    for text in ("95.0 ± 2.0", "temperature: 0.6", "max new tokens: 320", "samples per problem",
                 "Please reason step by step.", "**dpo**", "± one standard error"):
        assert text in md, text
    assert "<table" in page and "<strong>dpo</strong>" in page and "95.0 ± 2.0" in page
    for name in ("scores_chart", "tokens_chart"):
        assert paths[name].read_bytes()[:8] == PNG
        assert f'src="{paths[name].name}"' in page and f"]({paths[name].name})" in md
    links = re.findall(r'href="([^"]+)"', page)
    assert len(links) == len(results)
    assert all((tmp_path / "report" / link).resolve().exists() for link in links)
    data = json.loads(paths["results"].read_text())
    assert data["protocol"]["temperature"] == 0.6 and len(data["results"]) == 12
    assert "## What was scored" in md and "`" + "12" * 8 + "`" in md and "main#0: first" in md


def test_report_shows_the_server_check_and_a_headline_without_a_teacher(tmp_path, monkeypatch):
    import cookbook.eval.report as report

    monkeypatch.setattr(report, "combined_evalscope_report", lambda results, folder: None)
    results = [r for r in results_fixture(tmp_path / "eval") if r.model != "teacher"]
    check = {"model": "teacher", "problems": 16, "served": 0.9375, "checkpoint": 1.0, "concurrency": 16}
    paths = write_report(tmp_path / "report", results, CANDIDATES, protocol_fixture(), server_check=check)
    md = paths["report_md"].read_text()
    assert "**dpo**, scores 74.0%; the base student scores 2.0% (+72.0 points for the best)." in md
    assert "the teacher scores" not in md
    assert "**Server check.** teacher behind `swift deploy`" in md
    assert "scored 93.8% on the first 16 GSM8K problems, its checkpoint 100.0%" in md
    assert json.loads(paths["results"].read_text())["server_check"] == check


def test_the_token_table_leaves_out_ifeval_whose_answers_are_no_chains(tmp_path):
    results = results_fixture(tmp_path)
    ifeval = BenchmarkResult("dpo", "ifeval", 0.5, 0.5, 0.05, 30, 1, [0.5], 40.0, "", "")
    assert "IFEval" not in token_table(results + [ifeval]).columns
    assert "IFEval" in score_table(results + [ifeval]).columns


def test_manifest_metrics_are_nested_model_then_benchmark(tmp_path):
    m = metrics(results_fixture(tmp_path), CANDIDATES, protocol_fixture())
    assert m["scores"]["teacher"]["gsm8k"] == 0.95
    assert m["samples"]["dpo"]["aime24"] == 4
    assert m["roles"] == {"teacher": "teacher", "student-base": "base", "sft-full": "distilled", "dpo": "distilled"}
    assert m["headline"]["best_distilled"] == "dpo"
    json.dumps(m)  # the manifest is JSON


# ---- the protocol ---------------------------------------------------------------------------

def test_tiny_protocol_uses_one_prompt_for_every_math_benchmark_and_samples_aime(world):
    p = protocol_from_recipe(load_recipe("recipes/tiny.yaml"), world=world)
    prompts = {b.name: b.prompt for b in p.benchmarks}
    assert prompts["ifeval"] is None
    assert len({prompts[n] for n in ("gsm8k", "math_500", "aime24", "aime25")}) == 1
    assert p.plan("aime24").samples >= 2 and p.plan("aime25").samples >= 2
    assert p.temperature > 0  # several samples per problem differ only when sampling
    assert all(Path(b.local_path).is_dir() for b in p.benchmarks)
    # evalscope formats its template with str.format: our braces survive, {question} is filled
    template = p.plan("aime24").dataset_args()["prompt_template"]
    assert template.format(question="What is 2+2?") == "What is 2+2?\nPlease reason step by step, and put your final answer within \\boxed{}."


def test_math_500_limit_is_divided_among_the_five_levels():
    plan = BenchmarkPlan("math_500", 50, 1, "{question}", None)
    assert plan.evalscope_limit() == 10 and plan.expected_answers() == 50
    assert BenchmarkPlan("aime24", 10, 4, "{question}", None).expected_answers() == 40
    assert BenchmarkPlan("gsm8k", None, 1, "{question}", None).expected_answers() is None


def test_protocol_rows_state_every_setting():
    p = protocol_fixture()
    rows = p.rows()
    assert [r["benchmark"] for r in rows] == ["GSM8K", "AIME 2024"]
    assert rows[1]["samples per problem"] == 4 and rows[1]["problems"] == "all"
    settings = p.settings()
    for key in ("temperature", "top_p", "max new tokens", "score", "CoT tokens"):
        assert key in settings
    assert p.fingerprint() != Protocol(**{**p.__dict__, "temperature": 0.7}).fingerprint()


@pytest.mark.parametrize("name", sorted(p.name for p in (project_root() / "recipes").glob("*.yaml")))
def test_every_recipe_gives_aime_several_samples(name, world):
    p = protocol_from_recipe(load_recipe(project_root() / "recipes" / name), world=world)
    for aime in ("aime24", "aime25"):
        if aime in p.names:  # recipes/tutorial.yaml evaluates GSM8K only (greedy, as the tutorial)
            assert p.plan(aime).samples >= 2


def _recipe(tmp_path, eval_section: dict) -> Path:
    raw = yaml.safe_load((project_root() / "recipes" / "tiny.yaml").read_text())
    raw["eval"] = eval_section
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("section, message", [
    ({"aime_samples": 1}, "eval.aime_samples"),
    ({"prompt": "no placeholder"}, "eval.prompt"),
    ({"limit": {"gsm8k": 0}}, "eval.limit"),
    ({"limit": {"mmlu": 10}}, "eval.limit"),
    ({"temperature": 0}, "eval.temperature"),
    ({"serve": "ollama"}, "eval.serve"),
])
def test_bad_eval_sections_fail_with_the_key(tmp_path, section, message):
    with pytest.raises(RecipeError, match=re.escape(message)):
        load_recipe(_recipe(tmp_path, section))


# ---- the candidates -------------------------------------------------------------------------

def test_labels_are_short_and_keep_the_stage_when_needed():
    assert label("sft", "model-full") == "sft-full"
    assert label("sft", "model-lora") == "sft-lora"
    assert label("preference", "model-dpo") == "dpo"
    assert label("kd", "model-kd-offline") == "kd-offline"
    assert label("grpo", "model") == "grpo"


def test_distilled_students_are_every_model_output_in_notebook_order(tmp_path):
    manifest = {"stages": {
        "grpo": {"outputs": {"model-grpo": {"path": "grpo/model-grpo", "sha256": "g"}}},
        "sft": {"outputs": {"model-full": {"path": "sft/model-full", "sha256": "f"},
                            "model-lora": {"path": "sft/model-lora", "sha256": "l"},
                            "losses": {"path": "sft/losses.png", "sha256": "x"}}},
        "data": {"outputs": {"sft": {"path": "data/sft.jsonl", "sha256": "d"}}},
        "preference": {"outputs": {"model-dpo": {"path": "/abs/dpo", "sha256": "p"}}},
    }}
    found = distilled_students(manifest, tmp_path)
    assert [c.name for c in found] == ["sft-full", "sft-lora", "dpo", "grpo"]
    assert found[0].model == str(tmp_path / "sft" / "model-full") and found[0].identity == "f"
    assert found[2].model == "/abs/dpo"
    assert {c.role for c in found} == {"distilled"}


def test_two_stages_with_the_same_label_are_told_apart(tmp_path):
    manifest = {"stages": {"sft": {"outputs": {"model-x": {"path": "a", "sha256": "1"}}},
                           "kd": {"outputs": {"model-x": {"path": "b", "sha256": "2"}}}}}
    assert sorted(c.name for c in distilled_students(manifest, tmp_path)) == ["kd-x", "sft-x"]


def test_the_report_sets_the_measured_gain_beside_the_published_one(tmp_path, monkeypatch):
    """recipes/tutorial.yaml repeats a published result (+12 points on GSM8K): the report shows both."""
    import cookbook.eval.report as report
    from cookbook.recipe import Published

    monkeypatch.setattr(report, "combined_evalscope_report", lambda results, folder: None)
    results = with_problems(with_problems(results_fixture(tmp_path / "eval"), "student-base", 2), "sft-full", 20)
    published = Published(benchmark="gsm8k", model="sft-full", gain=12.0, source="a tutorial")
    table = report.published_table(results, published)
    assert table.iloc[0]["published"] == "+12.0" and table.iloc[0]["measured here"].startswith("+18.0 ± ")
    md = write_report(tmp_path / "report", results, CANDIDATES, protocol_fixture(),
                      published=published)["report_md"].read_text()
    assert "## Against the published result" in md and "+12.0" in md
    missing = report.published_table(results, Published(model="sft-lora", gain=12.0, source="x"))
    assert missing.iloc[0]["measured here"].startswith("not measured")
