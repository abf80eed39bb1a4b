"""Write tiny-world problems in the real file formats of GSM8K, MATH-500, AIME and IFEval.

Each benchmark becomes a Hugging Face-style dataset folder: JSON-lines files plus a
README.md whose YAML header declares the configs and splits. evalscope's own adapters
load such a folder through `dataset_args={name: {'local_path': folder}}`, exactly as
they would load the hub copy, so the tiny profile exercises the real evaluation code.
"""

from __future__ import annotations

from pathlib import Path

from cookbook.io import atomic_write_text, write_jsonl
from cookbook.toy.instructions import Instruction, ifeval_row
from cookbook.toy.problems import Problem


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


def write_benchmarks(root: Path, splits: dict[str, list[Problem]], ifeval: list[Instruction]) -> dict[str, Path]:
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
        "ifeval": write_dataset(root / "ifeval", "default", {"train": [ifeval_row(i) for i in ifeval]},
                                nested=False),
    }
