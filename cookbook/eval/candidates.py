"""The models to compare: the teacher, the base student and every distilled student of the run.

The teacher and the base student come from the recipe. Distilled students come from the
run's manifest: every output whose name starts with ``model`` in any stage (``sft``:
``model-full``, ``model-lora``; ``preference``: ``model-dpo``, ``model-cogpo``; ``grpo``:
``model-grpo``; ``kd``: ``model-kd-offline``, ``model-gkd``), each a merged Hugging Face
model folder. A model is evaluated either as a local checkpoint or through an
OpenAI-compatible API (a hosted teacher such as DeepSeek-R1, or a local server).
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from cookbook import hub
from cookbook.run import PRODUCED_BY

GENERIC_SUFFIXES = {"full", "lora", "merged", "final"}  # need their stage's name to mean anything


@dataclass(frozen=True)
class Candidate:
    name: str  # the row label in the report, and evalscope's model id
    role: str  # teacher | base | distilled
    model: str  # a local folder, or the served model name for an API
    stage: str | None = None  # the manifest stage that produced it
    output: str | None = None  # the manifest output name
    base_url: str | None = None  # an OpenAI-compatible endpoint: evaluated through the API
    api_key_env: str | None = None  # the variable holding the API key (never the key itself)
    identity: str | None = None  # a content hash: cached answers are reused only for the same model
    # How a local model is served (cookbook.serving, from the recipe): swift deploy's names, the
    # thinking mode (Qwen3's enable_thinking; None: the template's default) and vLLM's reasoning parser.
    model_type: str | None = None
    template: str | None = None
    thinking: bool | None = None
    reasoning_parser: str | None = None

    @property
    def is_api(self) -> bool:
        return self.base_url is not None

    def to_dict(self) -> dict:
        return asdict(self)


def label(stage: str, output: str) -> str:
    """A short row label: ``sft``/``model-full`` -> ``sft-full``, ``preference``/``model-dpo`` -> ``dpo``."""
    suffix = re.sub(r"^model-?", "", output)
    if not suffix:
        return stage
    if suffix in GENERIC_SUFFIXES:
        return f"{stage}-{suffix}"
    return suffix


def distilled_students(manifest: dict, run_dir: str | Path) -> list[Candidate]:
    """Every ``model*`` output of every stage, in the order the notebooks produce them."""
    order = list(PRODUCED_BY)
    stages = sorted(manifest.get("stages", {}).items(),
                    key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order), kv[0]))
    found = []
    for stage, entry in stages:
        for output, info in entry.get("outputs", {}).items():
            if not output.startswith("model"):
                continue
            path = Path(info["path"])
            path = path if path.is_absolute() else Path(run_dir) / path
            found.append(Candidate(name=label(stage, output), role="distilled", model=str(path), stage=stage,
                                   output=output, identity=info.get("sha256")))
    names = [c.name for c in found]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:  # two stages chose the same suffix: fall back to stage-qualified labels
        found = [Candidate(**{**c.to_dict(), "name": f"{c.stage}-{c.name}"}) if c.name in dupes else c for c in found]
    return found


def candidates_from_session(session, include_teacher: bool = True, include_base: bool = True) -> list[Candidate]:
    """Teacher, base student and distilled students of ``session`` (cookbook.session.Session)."""
    out = run_candidates(session.recipe, session.run.manifest, session.run.dir, include_teacher, include_base)
    for c in out:
        if not c.is_api and not Path(c.model).is_dir():
            raise FileNotFoundError(f"model folder of {c.name!r} not found: {c.model}")
    return out


def run_candidates(recipe, manifest: dict, run_dir: str | Path, include_teacher: bool = True,
                   include_base: bool = True, resolve=None) -> list[Candidate]:
    """The candidates of a run's manifest, with the recipe's serving facts. ``resolve``: a model
    reference to its folder (default hub.resolve_model; cookbook.plan's names it without a download)."""
    resolve = resolve or hub.resolve_model
    out = []
    if include_teacher:
        out.append(teacher_candidate(recipe, resolve))
    if include_base:
        path = resolve(recipe.student_model)
        out.append(Candidate(name="student-base", role="base", model=str(path), identity=folder_identity(path)))
    out += distilled_students(manifest, run_dir)
    return [c if c.is_api else with_serving(c, recipe) for c in out]


def teacher_candidate(recipe, resolve=None) -> Candidate:
    t = recipe.teacher
    if t.base_url:  # a hosted or already running teacher: evaluated through its API (the first of several)
        url = t.base_urls[0]
        return Candidate(name="teacher", role="teacher", model=recipe.teacher_model, base_url=url,
                         api_key_env=t.api_key_env, identity=f"api:{url}:{recipe.teacher_model}")
    path = (resolve or hub.resolve_model)(recipe.teacher_model)
    return Candidate(name="teacher", role="teacher", model=str(path), identity=folder_identity(path))


def with_serving(candidate: Candidate, recipe) -> Candidate:
    """The candidate with the recipe's serving facts for its role (cookbook.serving): students share
    the student's family (train.model_type, template, thinking), a local teacher has its own."""
    from dataclasses import replace

    from cookbook import serving

    model_type, template, _ = serving.model_facts(candidate.role, recipe)
    return replace(candidate, model_type=model_type, template=template,
                   thinking=serving.thinking(candidate.role, recipe),
                   reasoning_parser=serving.reasoning_parser(candidate.model, candidate.role, recipe))


def folder_identity(path: str | Path) -> str:
    """A cheap fingerprint of a model folder: file names, sizes and modification times.

    Hashing the contents of a 16 GB checkpoint on every run would take a minute; a retrained
    or replaced model changes sizes or times, which is what cache invalidation needs.
    """
    from cookbook.run import fingerprint

    path = Path(path)
    entries = []
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        st = f.stat()
        entries.append([str(f.relative_to(path)), st.st_size, int(st.st_mtime)])
    return "stat:" + fingerprint(entries)


def api_key(candidate: Candidate) -> str:
    """The API key from the candidate's environment variable ("EMPTY" for local servers)."""
    if not candidate.api_key_env:
        return "EMPTY"
    key = os.environ.get(candidate.api_key_env)
    if not key:
        raise RuntimeError(f"{candidate.name}: set the environment variable {candidate.api_key_env} "
                           "(the API key) before starting JupyterLab or make")
    return key
