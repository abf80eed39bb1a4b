"""Recipes: YAML files validated by one schema, the one place parameters are checked.

An unknown key, a wrong type or a file that does not exist fails with one message that
names the recipe file and the key (``recipes/tiny.yaml: teacher.modle: unknown key``),
before any work starts. Later stages add their own sections here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from cookbook.paths import resolve
from cookbook.profiles import Profile, get_profile

Benchmark = Literal["gsm8k", "math_500", "aime24", "aime25", "ifeval"]


def _existing_file(value: str) -> str:
    if not resolve(value).exists():
        raise ValueError(f"file not found: {value} (looked in {resolve(value)})")
    return value


ExistingPath = Annotated[str, AfterValidator(_existing_file)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class TeacherSection(Section):
    model: str | None = Field(None, description="model reference; default: the profile's teacher")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint; default: a local server")
    api_key_env: str | None = Field(None, description="name of the environment variable holding the key")


class StudentSection(Section):
    model: str | None = Field(None, description="model reference; default: the profile's student")


class DataSection(Section):
    questions: ExistingPath | None = Field(None, description="your questions (JSON lines); tiny: the toy train split")
    train_size: int = Field(400, gt=0, description="questions sent to the teacher")


class EvalSection(Section):
    benchmarks: list[Benchmark] = ["gsm8k", "math_500", "aime24", "aime25", "ifeval"]
    limit: int | None = Field(None, gt=0, description="problems per benchmark; default: the profile's")
    samples: int | None = Field(None, gt=0, description="samples per problem; default: the profile's")


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str
    profile: Literal["tiny", "workshop", "full"]
    hardware: str = Field(description="what the recipe was measured on")
    runtime: str = Field(description="measured wall time on that hardware")
    seed: int = 42
    teacher: TeacherSection = TeacherSection()
    student: StudentSection = StudentSection()
    data: DataSection = DataSection()
    eval: EvalSection = EvalSection()
    source: str = Field("", exclude=True, description="the file this recipe was read from")

    @property
    def profile_info(self) -> Profile:
        return get_profile(self.profile)

    @property
    def teacher_model(self) -> str:
        return self.teacher.model or self.profile_info.teacher

    @property
    def student_model(self) -> str:
        return self.student.model or self.profile_info.student


class RecipeError(ValueError):
    """A recipe that cannot be used; the message names the file and the key."""


def load_recipe(path: str | Path) -> Recipe:
    file = resolve(path)
    if not file.exists():
        raise RecipeError(f"recipe file not found: {path} (looked in {file})")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise RecipeError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: a recipe is a YAML mapping of keys to values")
    try:
        return Recipe.model_validate({**raw, "source": str(path)})
    except ValidationError as e:
        raise RecipeError("\n".join(f"{path}: {_describe(err)}" for err in e.errors())) from None


def _describe(err: dict) -> str:
    key = ".".join(str(p) for p in err["loc"]) or "(top level)"
    if err["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    if err["type"] == "missing":
        return f"{key}: required key is missing"
    got = err.get("input")
    shown = f" (got {got!r})" if not isinstance(got, dict | list) else ""
    return f"{key}: {err['msg']}{shown}"
