"""A score is computed on the data it names: two local benchmark folders of the same name and
layout, evaluated one after the other, are each scored on their own problems.

`datasets` (under evalscope's local loader) keyed its cache of a local folder by the folder's
name and its README's file patterns: the second folder was scored on the first one's problems.
"""

import json

import pytest

from cookbook.eval.candidates import Candidate
from cookbook.eval.protocol import BenchmarkPlan, Protocol, local_data_sha256
from cookbook.eval.results import summarise
from cookbook.eval.runner import evaluate
from cookbook.toy.benchmarks import write_dataset
from tests.fake_openai import FakeOpenAI

# The fake server answers every prompt with \boxed{len(prompt)}; the prompt is the question itself.
QUESTIONS = {
    "alpha": [f"Alpha problem {i}: how many characters does this question have?" for i in range(6)],
    "beta": [f"Beta problem {i} of another folder, with other words: count this question's characters."
             for i in range(6)],
}


def gsm8k_folder(root, which: str, right: bool):
    """A GSM8K-layout folder (README configs, main/test.jsonl); its answers right or all wrong."""
    rows = [{"question": q, "answer": f"Count them.\n#### {len(q) if right else len(q) + 1}"}
            for q in QUESTIONS[which]]
    return write_dataset(root / "gsm8k", "main", {"train": rows[:1], "test": rows}, nested=True)


def protocol(folder) -> Protocol:
    plan = BenchmarkPlan("gsm8k", 6, 1, "{question}", str(folder))
    return Protocol(profile="tiny", benchmarks=(plan,), temperature=0.0, top_p=1.0, max_tokens=32,
                    batch_size=6, serve="checkpoint")


@pytest.fixture
def shared_datasets_cache(tmp_path, monkeypatch):
    """One `datasets` cache for both evaluations, as a user's ~/.cache/huggingface has."""
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))


def test_two_folders_of_the_same_layout_are_each_scored_on_their_own_problems(tmp_path, shared_datasets_cache):
    alpha = gsm8k_folder(tmp_path / "a", "alpha", right=False)  # every reference answer is off by one
    beta = gsm8k_folder(tmp_path / "b", "beta", right=True)
    assert local_data_sha256(alpha) != local_data_sha256(beta)
    with FakeOpenAI() as fake:
        model = Candidate("api-model", "teacher", "fake-teacher", base_url=fake.base_url, identity="test:fake")
        scores, asked = {}, {}
        for name, folder in (("alpha", alpha), ("beta", beta)):
            fake.requests.clear()
            job = evaluate([model], protocol(folder), tmp_path / f"eval-{name}", log=lambda _: None)[0]
            scores[name] = summarise(job.work_dir, model.name, "gsm8k").score
            asked[name] = sorted(r["prompt"] for r in fake.requests)
            identity = json.loads((job.work_dir / "identity.json").read_text())
            assert identity["data_sha256"] == local_data_sha256(folder)
    assert asked == {name: sorted(qs) for name, qs in QUESTIONS.items()}
    assert scores == {"alpha": 0.0, "beta": 1.0}


def test_the_data_hash_follows_content_not_location(tmp_path):
    one = gsm8k_folder(tmp_path / "one", "alpha", right=True)
    two = gsm8k_folder(tmp_path / "two", "alpha", right=True)
    assert local_data_sha256(one) == local_data_sha256(two)
    (one / "dataset_infos.json").write_text("{}")  # evalscope deletes this file before loading
    assert local_data_sha256(one) == local_data_sha256(two)
    gsm8k_folder(tmp_path / "two", "alpha", right=False)
    assert local_data_sha256(one) != local_data_sha256(two)
