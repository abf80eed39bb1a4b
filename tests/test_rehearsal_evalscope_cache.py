"""evalscope's hub path reads a project-written dataset cache offline (cookbook.rehearsal.evalscope_cache).

The rows are stand-ins written here in each benchmark's format, never rows of the benchmarks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("evalscope")

from cookbook.hub import OFFLINE_ENV
from cookbook.rehearsal.evalscope_cache import write_evalscope_cache

GSM8K_TEST = [
    {"question": "A box holds 40 pens and 2 more are added. How many pens are in the box?",
     "answer": "40 + 2 = <<40+2=42>>42\n#### 42"},
    {"question": "Mia reads 3 pages on Monday and 4 on Tuesday. How many pages in all?",
     "answer": "3 + 4 = <<3+4=7>>7\n#### 7"},
]
GSM8K_TRAIN = [{"question": f"Lee has {i} coins and finds one more. How many coins?",
                "answer": f"{i} + 1 = <<{i}+1={i + 1}>>{i + 1}\n#### {i + 1}"} for i in range(5)]


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """cookbook.hub's offline settings, with empty hub caches: only the written cache can answer."""
    for key, value in OFFLINE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "modelscope"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    return tmp_path / "evalscope"


def load(benchmark: str, dataset_dir: Path, **dataset_args):
    from evalscope import TaskConfig
    from evalscope.api.registry import get_benchmark

    config = TaskConfig(model="x", eval_type="mock_llm", datasets=[benchmark], dataset_hub="modelscope",
                        dataset_dir=str(dataset_dir),
                        dataset_args={benchmark: dataset_args} if dataset_args else {})
    return get_benchmark(benchmark, config).load_dataset()


def test_gsm8k_reads_back_offline(offline):
    written = write_evalscope_cache(offline, "gsm8k", {"test": GSM8K_TEST, "train": GSM8K_TRAIN})
    assert sorted(written) == [("main", "test"), ("main", "train")]
    assert written["main", "test"].parent == offline / "datasets"
    assert written["main", "test"].name.startswith("AI-ModelScope_gsm8k-")
    assert {p.name for p in written["main", "test"].iterdir()} == {
        "data-00000-of-00001.arrow", "dataset_info.json", "state.json"}

    data = load("gsm8k", offline)  # evalscope's default: 4-shot from the train split
    samples = data["main"]
    assert [s.target for s in samples] == ["42", "7"]
    prompt = samples[0].input[-1].content
    assert GSM8K_TEST[0]["question"] in prompt and GSM8K_TRAIN[0]["question"] in prompt

    zero_shot = load("gsm8k", offline, few_shot_num=0)  # as the cookbook's protocol asks
    assert [s.target for s in zero_shot["main"]] == ["42", "7"]


def test_math_500_levels_read_back_offline(offline):
    rows = [{"problem": f"What is {n} + {n}?", "solution": f"$\\boxed{{{2 * n}}}$", "answer": str(2 * n),
             "subject": "Prealgebra", "level": n, "unique_id": f"standin/{n}.json"} for n in (1, 2, 5)]
    write_evalscope_cache(offline, "math_500", {"test": rows})
    data = load("math_500", offline)
    got = {level: [s.target for s in subset] for level, subset in data.items() if len(subset)}
    assert got == {"Level 1": ["2"], "Level 2": ["4"], "Level 5": ["10"]}


def test_ifeval_reads_back_offline(offline):
    pytest.importorskip("langdetect")
    rows = [{"key": 1, "prompt": "Describe a kettle in lowercase letters only.",
             "instruction_id_list": ["change_case:english_lowercase"], "kwargs": [{"num_words": None}]}]
    write_evalscope_cache(offline, "ifeval", {"train": rows})
    samples = load("ifeval", offline)["default"]
    assert [s.metadata["prompt"] for s in samples] == [rows[0]["prompt"]]


def test_same_layout_as_evalscope_publishes(tmp_path):
    """evalscope's own download path, its network step answered by an SDK snapshot on disk,
    leaves the same folders (names and columns) as write_evalscope_cache."""
    script = textwrap.dedent(f"""
        import json, os, sys
        import pyarrow as pa, pyarrow.parquet as pq
        snap = os.path.join(os.environ["MODELSCOPE_CACHE"], "datasets", "AI-ModelScope--gsm8k", "snapshots", "master")
        os.makedirs(os.path.join(snap, "main"))
        with open(os.path.join(snap, "README.md"), "w") as f:
            f.write("---\\nconfigs:\\n- config_name: main\\n  data_files:\\n  - split: train\\n    path: main/train-*\\n"
                    "  - split: test\\n    path: main/test-*\\n---\\n")
        rows = json.loads(sys.argv[1])
        for split in ("test", "train"):
            pq.write_table(pa.Table.from_pylist(rows[split]), os.path.join(snap, "main", split + "-00000-of-00001.parquet"))
        from evalscope import TaskConfig
        from evalscope.api.registry import get_benchmark
        cfg = TaskConfig(model="x", eval_type="mock_llm", datasets=["gsm8k"], dataset_hub="modelscope",
                         dataset_dir={str(tmp_path / "published")!r})
        get_benchmark("gsm8k", cfg).load_dataset()
    """)
    env = {**os.environ, **OFFLINE_ENV, "MODELSCOPE_CACHE": str(tmp_path / "modelscope"),
           "HF_HOME": str(tmp_path / "hf")}
    rows = json.dumps({"test": GSM8K_TEST, "train": GSM8K_TRAIN})
    subprocess.run([sys.executable, "-c", script, rows], env=env, check=True, capture_output=True, timeout=300)

    written = write_evalscope_cache(tmp_path / "written", "gsm8k", {"test": GSM8K_TEST, "train": GSM8K_TRAIN})

    def listing(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*") if not p.name.startswith(".hf-staging")}

    assert listing(tmp_path / "published") == listing(tmp_path / "written")

    import datasets

    for folder in written.values():
        mine = datasets.load_from_disk(str(folder))
        theirs = datasets.load_from_disk(str(tmp_path / "published" / "datasets" / folder.name))
        assert mine.features == theirs.features and mine.to_list() == theirs.to_list()
