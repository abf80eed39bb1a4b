"""Project-written stand-ins for hub datasets, in their real layout, for rehearsals.

A rehearsal cannot download NuminaMath-CoT, so it writes a folder laid out as the hub's
snapshot of it (``data/train-00000-of-00001.parquet`` with the real columns) and the
recipe's source points there with ``path:`` instead of ``hub:``: from the files on,
the same loader code reads it. The rows are the tiny world's problems written in the
dataset's format (never rows of the dataset itself), so the look-alike teacher can answer.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def numina_row(p) -> dict:
    """A NuminaMath-CoT row: source, problem, solution (ending in its boxed answer), messages."""
    solution = f"{p.short_cot}\n\nThe answer is $\\boxed{{{p.answer}}}$."
    return {"source": "tiny_world", "problem": p.question, "solution": solution,
            "messages": [{"role": "user", "content": p.question}, {"role": "assistant", "content": solution}]}


def write_parquet_split(folder: Path, split: str, rows: list[dict]) -> Path:
    """``<folder>/data/<split>-00000-of-00001.parquet``, the Hugging Face / ModelScope snapshot layout."""
    path = folder / "data" / f"{split}-00000-of-00001.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_benchmark_cache(dataset_dir: str | Path, world, benchmarks) -> list[str]:
    """The tiny world's benchmark folders (in the hub's file layout) written as evalscope's dataset
    cache of the hub benchmarks, as `make download` leaves it: evalscope then takes its hub path,
    offline. Each ``<subset>/<split>.jsonl`` (or ``<split>.jsonl``) becomes that split."""
    from cookbook.io import read_jsonl
    from cookbook.rehearsal.evalscope_cache import write_evalscope_cache

    done = []
    for name in benchmarks:
        if (Path(dataset_dir) / f".{name}.written").exists():
            continue
        folder = world.benchmark_dir(name)
        splits = {((f.parent.name, f.stem) if f.parent != folder else f.stem): read_jsonl(f)
                  for f in sorted(folder.rglob("*.jsonl"))}
        write_evalscope_cache(dataset_dir, name, splits)
        (Path(dataset_dir) / f".{name}.written").touch()
        done.append(name)
    return done


def write_standins(root: str | Path, world) -> dict[str, Path]:
    """Every hub dataset a recipe may name as its questions, by hub id -> folder."""
    root = Path(root)
    folder = root / "AI-MO" / "NuminaMath-CoT"
    write_parquet_split(folder, "train", [numina_row(p) for p in world.problems("gsm8k_train")])
    write_parquet_split(folder, "test", [numina_row(p) for p in world.problems("gsm8k_test")[:50]])
    return {"AI-MO/NuminaMath-CoT": folder}
