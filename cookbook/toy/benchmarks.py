"""Write tiny-world problems in the real file formats of GSM8K, MATH-500, AIME and IFEval.

Each benchmark becomes a Hugging Face-style dataset folder: JSON-lines files plus a
README.md whose YAML header declares the configs and splits. evalscope's own adapters
load such a folder through `dataset_args={name: {'local_path': folder}}`, exactly as
they would load the hub copy, so the tiny profile exercises the real evaluation code.
"""

from __future__ import annotations

import random
from pathlib import Path

from cookbook.io import atomic_write_text, write_jsonl
from cookbook.toy.problems import ITEMS, NAMES, Problem

# IFEval instruction ids that evalscope's checker registry knows, with their kwargs.
IFEVAL_INSTRUCTIONS = [
    ("punctuation:no_comma", {}),
    ("change_case:english_lowercase", {}),
    ("change_case:english_capital", {}),
    ("detectable_format:title", {}),
    ("length_constraints:number_words", {"relation": "less than", "num_words": 40}),
    ("startend:end_checker", {"end_phrase": "Is there anything else I can help with?"}),
]
IFEVAL_TASKS = [
    "Explain how to add two numbers with a carry",
    "Describe how {name} counts {item}",
    "Write a short note about sharing {item} with a friend",
    "Tell a tiny story about {name} and some {item}",
]
IFEVAL_WORDING = {
    "punctuation:no_comma": "Do not use any commas in your response.",
    "change_case:english_lowercase": "Your entire response should be in English, and in all lowercase letters.",
    "change_case:english_capital": "Your entire response should be in English, and in all capital letters.",
    "detectable_format:title": "Your answer must contain a title, wrapped in double angular brackets, such as <<title>>.",
    "length_constraints:number_words": "Answer with less than 40 words.",
    "startend:end_checker": "Finish your response with this exact phrase: Is there anything else I can help with?",
}


def gsm8k_row(p: Problem) -> dict:
    # GSM8K: the reasoning, then the final answer after "####".
    return {"question": p.question, "answer": f"{p.digit_cot}\n#### {p.answer}"}


def math500_row(p: Problem) -> dict:
    return {
        "problem": p.question,
        "solution": f"{p.digit_cot}\nThe answer is $\\boxed{{{p.answer}}}$.",
        "answer": str(p.answer),
        "subject": "Prealgebra",
        "level": p.level,
        "unique_id": f"toy/{p.id}.json",
    }


def aime_row(p: Problem, year: int, index: int) -> dict:
    return {
        "id": f"{year}-toy-{index + 1}",
        "problem": p.question,
        "solution": f"{p.digit_cot}\n\\boxed{{{p.answer}}}",
        "answer": str(p.answer),
        "url": "",
        "year": year,
    }


def ifeval_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(f"{seed}:ifeval")
    rows = []
    for key in range(1, n + 1):
        instruction_id, kwargs = IFEVAL_INSTRUCTIONS[(key - 1) % len(IFEVAL_INSTRUCTIONS)]
        task = rng.choice(IFEVAL_TASKS).format(name=rng.choice(NAMES)[0], item=rng.choice(ITEMS))
        rows.append({
            "key": key,
            "prompt": f"{task}. {IFEVAL_WORDING[instruction_id]}",
            "instruction_id_list": [instruction_id],
            "kwargs": [kwargs],
        })
    return rows


def write_dataset(folder: Path, config: str, splits: dict[str, list[dict]], nested: bool) -> Path:
    """Write splits as JSON lines plus the README.md header that declares them."""
    files = {}
    for split, rows in splits.items():
        rel = f"{config}/{split}.jsonl" if nested else f"{split}.jsonl"
        write_jsonl(folder / rel, rows)
        files[split] = rel
    header = ["---", "configs:", f"- config_name: {config}", "  data_files:"]
    for split, rel in files.items():
        header += [f"  - split: {split}", f"    path: {rel}"]
    header += ["---", "", f"Tiny-world {folder.name}: synthetic problems written by distill-cookbook.", ""]
    atomic_write_text(folder / "README.md", "\n".join(header))
    return folder


def write_benchmarks(root: Path, splits: dict[str, list[Problem]], seed: int, ifeval_size: int) -> dict[str, Path]:
    """All benchmark folders of the tiny world; returns name -> folder."""
    return {
        "gsm8k": write_dataset(root / "gsm8k", "main", {
            "train": [gsm8k_row(p) for p in splits["gsm8k_train"]],
            "test": [gsm8k_row(p) for p in splits["gsm8k_test"]],
        }, nested=True),
        "math_500": write_dataset(root / "math_500", "default",
                                  {"test": [math500_row(p) for p in splits["math_500"]]}, nested=False),
        "aime24": write_dataset(root / "aime24", "default",
                                {"test": [aime_row(p, 2024, i) for i, p in enumerate(splits["aime24"])]},
                                nested=False),
        "aime25": write_dataset(root / "aime25", "default",
                                {"test": [aime_row(p, 2025, i) for i, p in enumerate(splits["aime25"])]},
                                nested=False),
        "ifeval": write_dataset(root / "ifeval", "default", {"train": ifeval_rows(ifeval_size, seed)},
                                nested=False),
    }
