"""Question and chain sources a user has: a hub dataset or files on disk, read as a stream.

Every row here is written by this test (made-up arithmetic in the datasets' formats),
never a row of the real datasets.
"""

import json
import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from cookbook.data import sources
from cookbook.data.loaders import FormatError, iter_cots, load_cots, recipe_chains
from cookbook.data.questions import ground_truth, recipe_questions
from cookbook.data.selection import select
from cookbook.eval import download
from cookbook.recipe import ChainDataset, DataSection, QuestionDataset, RecipeError, load_recipe


def parquet(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def gsm8k_row(i):
    return {"question": f"Ann has {i} apples and buys 2 more. How many now?",
            "answer": f"She has {i} + 2 = {i + 2} apples.\n#### {i + 2}"}


def gsm8k_layout(root):
    """modelscope/gsm8k as its snapshot lays it out: subsets main and socratic, train and test."""
    parquet(root / "main" / "train-00000-of-00001.parquet", [gsm8k_row(i) for i in range(5)])
    parquet(root / "main" / "test-00000-of-00001.parquet", [gsm8k_row(100 + i) for i in range(3)])
    parquet(root / "socratic" / "train-00000-of-00001.parquet", [gsm8k_row(200 + i) for i in range(4)])
    return root


def test_gsm8k_folder_reads_the_subsets_split_and_the_answer_after_hashes(tmp_path):
    root = gsm8k_layout(tmp_path / "gsm8k")
    source = QuestionDataset(path=str(root), subset="main", split="train", question="question", answer="answer")
    items = recipe_questions(DataSection(questions=source))
    assert [q["ground_truth"] for q in items] == ["2", "3", "4", "5", "6"]  # main/train only
    assert items[0] == {"id": "1", "question": gsm8k_row(0)["question"], "ground_truth": "2"}
    test = QuestionDataset(path=str(root), subset="main", split="test")
    assert [q["ground_truth"] for q in recipe_questions(DataSection(questions=test))] == ["102", "103", "104"]


def test_numina_field_mapping_and_boxed_ground_truth_from_a_jsonl_file(tmp_path):
    path = tmp_path / "numina.jsonl"
    rows = [{"source": "made_up", "problem": "Compute $3 + 4$.", "solution": "$3 + 4 = \\boxed{7}$."},
            {"source": "made_up", "problem": "Compute $\\frac{1}{2} + \\frac{1}{2}$.",
             "solution": "Halves: $\\boxed{\\frac{2}{2}}$, that is $\\boxed{1}$."}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    source = QuestionDataset(path=str(path), question="problem", answer="solution")
    items = recipe_questions(DataSection(questions=source))
    assert [(q["question"], q["ground_truth"]) for q in items] == [("Compute $3 + 4$.", "7"),
                                                                    (rows[1]["problem"], "1")]


def test_ground_truth_rules():
    assert ground_truth("so 40 + 2 = 42\n#### 1,042") == "1042"
    assert ground_truth("... \\boxed{\\frac{1}{2}}") == "\\frac{1}{2}"
    assert ground_truth(42) == "42" and ground_truth(None) is None


def test_reading_stops_at_the_limit(tmp_path):
    """4,000 questions of a large dataset read 4,000 rows: a broken row after them is never reached."""
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "1+1?", "answer": "2"}\n{"question": "2+2?", "answer": "4"}\n{broken\n')
    source = QuestionDataset(path=str(path))
    assert len(recipe_questions(DataSection(questions=source), limit=2)) == 2
    with pytest.raises(ValueError, match=r"q\.jsonl:3: not valid JSON"):
        recipe_questions(DataSection(questions=source))


def test_a_bad_row_names_file_row_and_field(tmp_path):
    rows = [{"problem": "1+1?", "solution": "\\boxed{2}"}, {"problem": "2+2?", "solution": "\\boxed{4}"},
            {"problem": None, "solution": "\\boxed{6}"}]
    parquet(tmp_path / "ds" / "data" / "train-00000-of-00001.parquet", rows)
    source = QuestionDataset(path=str(tmp_path / "ds"), question="problem", answer="solution")
    with pytest.raises(ValueError, match=r"data/train-00000-of-00001\.parquet:3: problem: must be a non-empty "
                                         r"string \(the row's fields: problem, solution; set data\.questions\.question"):
        recipe_questions(DataSection(questions=source))
    wrong_field = QuestionDataset(path=str(tmp_path / "ds"))  # default field "question": not in these rows
    with pytest.raises(ValueError, match=r"parquet:1: question: must be a non-empty string"):
        recipe_questions(DataSection(questions=wrong_field))


def test_split_selection_by_names_and_by_the_dataset_card(tmp_path):
    numina = tmp_path / "numina"
    for k in range(2):
        parquet(numina / "data" / f"train-0000{k}-of-00002.parquet", [{"problem": f"p{k}", "solution": "s"}])
    parquet(numina / "data" / "test-00000-of-00001.parquet", [{"problem": "t", "solution": "s"}])
    assert [f.name for f in sources.split_files(numina, "train")] == ["train-00000-of-00002.parquet",
                                                                      "train-00001-of-00002.parquet"]
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "train.jsonl").write_text("{}\n")
    (flat / "test.jsonl").write_text("{}\n")
    assert [f.name for f in sources.split_files(flat, "test")] == ["test.jsonl"]
    unnamed = tmp_path / "unnamed"
    unnamed.mkdir()
    (unnamed / "mathr_clean.jsonl").write_text("{}\n")  # no split in the name: the hubs call it train
    assert [f.name for f in sources.split_files(unnamed, "train", "clean")] == ["mathr_clean.jsonl"]
    carded = tmp_path / "carded"  # the card's configs: decide, whatever the names say
    (carded / "a").mkdir(parents=True)
    (carded / "a" / "x.jsonl").write_text("{}\n")
    (carded / "a" / "y.jsonl").write_text("{}\n")
    (carded / "README.md").write_text("---\nconfigs:\n- config_name: clean\n  data_files:\n  - split: train\n"
                                      "    path: a/y.jsonl\n---\n# card\n")
    assert [f.name for f in sources.split_files(carded, "train", "clean")] == ["y.jsonl"]
    with pytest.raises(sources.SourceError, match=r"no files of split 'validation' .*found: data/test-0000"):
        sources.split_files(numina, "validation")


def test_hub_offline_without_a_cached_snapshot_says_to_run_make_download(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("DISTILL_HUB", raising=False)
    source = QuestionDataset(hub="AI-MO/NuminaMath-CoT", question="problem", answer="solution")
    with pytest.raises(sources.SourceError, match=r"'AI-MO/NuminaMath-CoT' \(modelscope\) is not cached in .*"
                                                  r"make download RECIPE=recipes/tutorial\.yaml"):
        recipe_questions(DataSection(questions=source), recipe="recipes/tutorial.yaml")


def test_a_cached_hub_snapshot_is_read_by_the_same_code_as_a_path(tmp_path, monkeypatch):
    """hub: -> its snapshot folder -> the same files and rows as path: to that folder (a rehearsal's swap)."""
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("DISTILL_HUB", "huggingface")
    folder = sources.snapshot_dir("openai/gsm8k")
    assert folder == tmp_path / "cache" / "datasets" / "huggingface" / "openai" / "gsm8k"
    gsm8k_layout(folder)
    by_hub = recipe_questions(DataSection(questions=QuestionDataset(hub="openai/gsm8k", subset="main")))
    by_path = recipe_questions(DataSection(questions=QuestionDataset(path=str(folder), subset="main")))
    assert by_hub == by_path and len(by_hub) == 5


def test_online_download_goes_into_the_snapshot_folder(tmp_path, monkeypatch):
    """`make download`: each hub dataset of data.questions / data.chains, with its folder and size."""
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("DISTILL_HUB", raising=False)
    fetched = []

    def fake_snapshot(hub, repo_id, folder):
        fetched.append((hub, repo_id))
        parquet(folder / "data" / "train-00000-of-00001.parquet", [{"problem": "p", "solution": "s"}])

    monkeypatch.setattr(sources, "fetch_snapshot", fake_snapshot)
    recipe = load_recipe("recipes/tutorial.yaml")
    chains = ChainDataset(format="mathr", hub="modelscope/MathR", subset="clean")
    recipe = recipe.model_copy(update={"data": recipe.data.model_copy(update={"chains": chains})})
    lines = []
    out = download.download_datasets(recipe, log=lines.append)
    assert fetched == [("modelscope", "AI-MO/NuminaMath-CoT"), ("modelscope", "modelscope/MathR")]
    assert out["AI-MO/NuminaMath-CoT"] == str(tmp_path / "cache" / "datasets" / "modelscope" / "AI-MO" / "NuminaMath-CoT")
    assert any("1 data files" in line and "MB" in line for line in lines)


def test_a_source_is_a_hub_id_or_a_path_never_both(tmp_path):
    with pytest.raises(ValidationError, match="exactly one of hub"):
        QuestionDataset(hub="AI-MO/NuminaMath-CoT", path=str(tmp_path))
    with pytest.raises(ValidationError, match="exactly one of hub"):
        ChainDataset(format="mathr")
    with pytest.raises(ValidationError, match="file not found"):
        QuestionDataset(path="no/such/folder")


def test_recipe_keys_name_the_source_and_its_errors(tmp_path):
    base = "hardware: cpu\nruntime: 1 min\nname: t\nprofile: tiny\n"
    path = tmp_path / "r.yaml"
    path.write_text(base + "data:\n  questions: {hub: AI-MO/NuminaMath-CoT, question: problem, answer: solution}\n"
                    "  chains: {format: omnithought, hub: alibaba-pai/OmniThought}\n")
    recipe = load_recipe(path)
    assert recipe.data.questions.question == "problem" and recipe.data.chains.format == "omnithought"
    path.write_text(base + "data:\n  questions: {hub: x/y, colum: q}\n")
    with pytest.raises(RecipeError, match=r"r\.yaml: data\.questions\.colum: unknown key"):
        load_recipe(path)


# ---------------------------------------------------------------- ready-made chains

def omnithought_row(i):
    return {"question": f"What is {i % 100} + 1?", "reasoning": [
        {"Cognitive_Difficulty": {"judge": "made-up", "level": 4}, "Reasoning_Verbosity": {"judge": "made-up",
         "level": 3 + i % 5}, "full_response": f"<think>\n{i % 100} + 1 = {i % 100 + 1}\n</think>\n\n"
         f"\\boxed{{{i % 100 + 1}}}"},
        {"Cognitive_Difficulty": {"judge": "made-up", "level": 2 + i % 3}, "Reasoning_Verbosity": {"judge": "made-up",
         "level": 4}, "full_response": f"<think>\ncount up\n</think>\n\n\\boxed{{{i % 100 + 1}}}"}]}


def test_chains_from_a_parquet_folder_keep_omnithoughts_judged_levels(tmp_path):
    parquet(tmp_path / "omni" / "data" / "train-00000-of-00001.parquet", [omnithought_row(i) for i in range(6)])
    data = DataSection(chains=ChainDataset(format="omnithought", path=str(tmp_path / "omni")))
    records = list(recipe_chains(data))
    assert len(records) == 12 and records[0].rv == 3 and records[0].cd == 4
    sel = select(records, correct="not_wrong", rv=(3, 5), cd=4)
    assert sel.counts["input"] == 12 and sel.kept  # RV/CD already judged: selection applies directly


def test_mathr_chains_from_a_jsonl_file(tmp_path):
    rows = [{"messages": [{"role": "user", "content": "What is 2 + 2?\nPlease reason step by step, and put your "
                           "final answer within \\boxed{}."},
                          {"role": "assistant", "content": "<think>\n2 + 2 = 4\n</think>\n\n\\boxed{4}"}]}]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = DataSection(chains=ChainDataset(format="mathr", path=str(tmp_path)))
    [record] = recipe_chains(data)
    assert record.question == "What is 2 + 2?" and record.final_answer == "4"


def test_a_bad_chain_row_names_file_row_and_field(tmp_path):
    rows = [omnithought_row(0), {"question": "q", "reasoning": []}]
    parquet(tmp_path / "train-00000-of-00001.parquet", rows)
    with pytest.raises(FormatError, match=r"train-00000-of-00001\.parquet:2: reasoning: must be a non-empty list"):
        list(recipe_chains(DataSection(chains=ChainDataset(format="omnithought", path=str(tmp_path)))))


def test_selection_over_a_generator_of_50000_rows_never_holds_the_list():
    n = 50_000
    consumed = 0

    def rows():
        nonlocal consumed
        for i in range(n):
            consumed += 1
            yield omnithought_row(i)

    kwargs = {"correct": "any", "rv": (3, 5), "cd": 4, "max_per_question": 1}
    tracemalloc.start()
    streamed = select(iter_cots(rows(), "omnithought"), **kwargs)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert consumed == n
    listed = select(load_cots([omnithought_row(i) for i in range(n)], "omnithought"), **kwargs)
    assert streamed.counts == listed.counts and streamed.counts["input"] == 2 * n
    assert [r.id for r in streamed.kept] == [r.id for r in listed.kept] and len(streamed.kept) == 100
    # The list of 100,000 records alone is tens of MB; one pass keeps 100 records and a few counts.
    assert peak < 5_000_000, f"peak {peak / 1e6:.1f} MB"
