"""Training reads the data file as it is now: a changed sft.jsonl at the same path is what
ms-swift's loader returns, through the launcher every training notebook uses.

ms-swift parses a JSONL file with `datasets`, whose cache of a local file is keyed by the
file's path and modification time. The stand-in below is `swift sft` reduced to that one
step: ms-swift's own `load_dataset`, as `swift sft --dataset FILE` calls it.
"""

import json
import os
import textwrap

import pytest

from cookbook.train.launcher import TrainJob, content_named_data, launch

READER = textwrap.dedent('''
    import json, os, sys
    from swift.arguments.base_args.data_args import DataArguments
    from swift.dataset import load_dataset
    args = sys.argv[1:]
    flag = lambda name: args[args.index(name) + 1]
    train, _ = load_dataset(flag("--dataset"), load_from_cache_file=DataArguments.load_from_cache_file)
    out = flag("--output_dir")
    ckpt = os.path.join(out, "checkpoint-1")
    os.makedirs(ckpt, exist_ok=True)
    open(os.path.join(ckpt, "trainer_state.json"), "w").write("{}")
    with open(os.path.join(out, "read.json"), "w") as f:
        json.dump([r["messages"][0]["content"] for r in train], f)
''')


def write(path, tag: str) -> None:
    rows = [{"messages": [{"role": "user", "content": f"question {tag}{i}"},
                          {"role": "assistant", "content": f"answer {tag}{i}"}]} for i in range(4)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def train(tmp_path, monkeypatch):
    """Run the stand-in through launch() on tmp_path/sft.jsonl; returns the questions it read."""
    (tmp_path / "readswift").mkdir()
    (tmp_path / "readswift" / "__init__.py").write_text("")
    (tmp_path / "readswift" / "sft.py").write_text(READER)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "modelscope"))  # ms-swift's datasets cache

    def run(data, out="out"):
        job = TrainJob("sft", ["--dataset", str(data), "--output_dir", str(tmp_path / out)], tmp_path / out,
                       module="readswift.sft")
        launch(job, progress=False)
        return json.loads((tmp_path / out / "read.json").read_text())
    return run


def test_a_file_changed_under_the_same_size_and_time_is_read_afresh(tmp_path, train):
    data = tmp_path / "sft.jsonl"
    write(data, "A")
    before = os.stat(data)
    assert train(data)[0] == "question A0"
    write(data, "B")
    os.utime(data, ns=(before.st_atime_ns, before.st_mtime_ns))  # as cp -p or rsync -a would leave it
    assert os.stat(data).st_size == before.st_size
    assert train(data)[0] == "question B0"


def test_data_links_are_named_by_content_and_hub_ids_pass_unchanged(tmp_path):
    data = tmp_path / "sft.jsonl"
    write(data, "A")
    flags = content_named_data(["--dataset", str(data), "AI-ModelScope/alpaca#500", "--lr", "1"], tmp_path / "links")
    link = flags[1]
    assert link != str(data) and os.path.realpath(link) == str(data.resolve())
    assert flags[2:] == ["AI-ModelScope/alpaca#500", "--lr", "1"]
    write(data, "B")
    assert content_named_data(["--dataset", str(data)], tmp_path / "links")[1] != link
