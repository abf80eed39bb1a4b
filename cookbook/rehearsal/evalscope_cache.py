"""evalscope's dataset cache for a hub benchmark, written by the project instead of downloaded.

``write_evalscope_cache(dataset_dir, "gsm8k", {"test": rows, "train": rows})`` leaves in
``dataset_dir`` what ``make download`` (cookbook.eval.download.download_benchmarks, i.e.
``get_benchmark(name, TaskConfig(dataset_hub=..., dataset_dir=...)).load_dataset()``) leaves
there, so that evalscope's *hub* path (no ``local_path``) then evaluates the benchmark
offline from it.

Layout (evalscope 1.14.1, ``evalscope/api/dataset/loader.py``)::

    <dataset_dir>/datasets/<safe_filename(dataset_id)>-<hash>/     one folder per (subset, split)
        data-00000-of-00001.arrow  dataset_info.json  state.json    (datasets' save_to_disk)
    <dataset_dir>/datasets/<safe_filename(dataset_id)>-<hash>.lock  (the split's FileLock)

e.g. ``AI-ModelScope_gsm8k-9470c78eb747f8d2293999f2c49e8428`` for GSM8K's ``main``/``test``.
``<hash>`` is ``RemoteDataLoader._dataset_cache_dir`` (loader.py ``_dataset_cache_hash``): the
md5 of the JSON of dataset id, split, subset, revision, hub and loader kwargs; the folder
name is computed here by that very method, so it follows evalscope.

Why this layout, and not the hub's download cache:

* ``RemoteDataLoader._load_cached_split`` (loader.py, ``if os.path.exists(cache_dir) and not
  self.force_redownload: datasets.load_from_disk(cache_dir)``) returns this folder before any
  hub call: no ModelScope/Hugging Face SDK, no endpoint, no offline flag is consulted.
* The hub's own files do not land in ``dataset_dir``: ``DatasetHub._load_modelscope``
  (``api/dataset/hub.py``) looks for an SDK snapshot with ``snapshot_download(repo_id=...,
  repo_type='dataset', local_files_only=True)`` *without* ``cache_dir``, i.e. in
  ``$MODELSCOPE_CACHE/datasets/<owner>--<name>/snapshots/<rev>/`` (modelscope_hub
  ``_download.py``), then ``MsDataset.load`` online. That cache is outside the project's
  ``.cache/`` that the download doc says to copy; the split folders above are inside it.
* modelscope 1.40.2 / modelscope_hub 0.5.1 never read ``MODELSCOPE_OFFLINE`` (no occurrence
  in either package); offline there only means the dead endpoint refuses, so a load that
  reached the hub would fail. The split cache never reaches it.

Evidence: tests/test_rehearsal_evalscope_cache.py loads GSM8K, MATH-500 and IFEval back with
the offline settings of cookbook.hub (endpoints on 127.0.0.1:9, empty SDK caches), and
checks that evalscope's own publication (its download path, the network replaced by an
SDK snapshot on disk) leaves the same folder names and columns as this writer.

The rows are the caller's (stand-ins in the benchmark's format, never the benchmark's rows).
What differs from a downloaded cache is metadata that ``load_from_disk`` does not use:
``dataset_info.json`` has no builder name / download checksums, and the fingerprint differs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence, Union

SplitKey = Union[str, tuple[str, str]]  # "test" (every subset the benchmark loads) or ("main", "test")


def evalscope_adapter(benchmark: str, dataset_dir: str | Path, hub: str = "modelscope"):
    """evalscope's adapter of a benchmark, configured as download_benchmarks configures it."""
    from evalscope import TaskConfig
    from evalscope.api.registry import get_benchmark

    config = TaskConfig(model="cache-writer", eval_type="mock_llm", datasets=[benchmark],
                        dataset_hub=hub, dataset_dir=str(dataset_dir))
    return get_benchmark(benchmark, config)


def loaded_subsets(adapter) -> list[str]:
    """The subsets evalscope loads from the hub (DefaultDataAdapter.load_subsets)."""
    if getattr(adapter, "split_as_subset", False):
        raise NotImplementedError(f"{adapter.name}: split_as_subset benchmarks are not supported")
    return [adapter.default_subset] if adapter.reformat_subset else list(adapter.subset_list)


def split_cache_dir(adapter, subset: str, split: str) -> Path:
    """The folder evalscope reads for one (subset, split), by evalscope's own method."""
    from evalscope.api.dataset.loader import RemoteDataLoader

    loader = RemoteDataLoader(data_id_or_path=adapter.dataset_id, split=split, subset=subset,
                              data_source=adapter.dataset_hub, version=adapter.dataset_revision,
                              dataset_dir=adapter.dataset_dir)
    return Path(loader._dataset_cache_dir())


def write_evalscope_cache(dataset_dir: str | Path, benchmark: str, rows_by_split: Mapping[SplitKey, Sequence[dict]],
                          hub: str = "modelscope", features=None) -> dict[tuple[str, str], Path]:
    """Write ``rows_by_split`` as evalscope's dataset cache of ``benchmark``; returns (subset, split) -> folder.

    A key ``"test"`` writes that split for every subset the benchmark loads (GSM8K: ``main``;
    MATH-500, AIME, IFEval: ``default``); a key ``("main", "test")`` writes one. Rows are dicts
    with the hub dataset's columns (GSM8K: question, answer ending ``#### <n>``). ``features``
    (a ``datasets.Features``) pins column types; by default they are inferred from the rows.
    Give the benchmark's eval split, and its train split when few-shot examples are drawn
    (GSM8K's default few_shot_num is 4; the cookbook's protocol sets 0).
    """
    import datasets

    adapter = evalscope_adapter(benchmark, dataset_dir, hub)
    written: dict[tuple[str, str], Path] = {}
    for key, rows in rows_by_split.items():
        pairs = [key] if isinstance(key, tuple) else [(subset, key) for subset in loaded_subsets(adapter)]
        for subset, split in pairs:
            folder = split_cache_dir(adapter, subset, split)
            if folder.exists():
                raise FileExistsError(f"{folder} exists: evalscope would read it as it is")
            folder.parent.mkdir(parents=True, exist_ok=True)
            datasets.Dataset.from_list(list(rows), features=features).save_to_disk(str(folder))
            Path(f"{folder}.lock").touch()  # the split's FileLock file, as a real load leaves it
            written[(subset, split)] = folder
    return written
