"""Profiles: the same notebooks at three sizes.

* ``tiny``: CPU only, offline. The project's own tiny world (a toy teacher and student,
  synthetic problems in the benchmarks' formats). Every notebook runs in minutes and
  the learning is real and measured.
* ``workshop``: one GPU of 24 GB or less. Qwen2.5-1.5B-Instruct student, DeepSeek-R1
  through an OpenAI-compatible API (or a local vLLM server), small evaluation limits.
* ``full``: several GPUs. Qwen3 students, whole benchmarks, several samples per problem.

A recipe names its profile; the profile supplies the defaults below, which the recipe may
override, and nothing else: a recipe's hardware and measured runtime are its own fields
(its first two lines), and every other default is the field's own in cookbook.recipe.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    teacher: str
    student: str
    offline: bool
    eval_limit: int | None  # problems per benchmark; None = whole benchmark
    eval_samples: int  # samples per problem (pass@1 is their mean)
    max_new_tokens: int


# One row per profile: the fields of Profile, in order.
PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("tiny", "tiny-world:teacher", "tiny-world:student-base", offline=True, eval_limit=None,
            eval_samples=1, max_new_tokens=320),
    Profile("workshop", "deepseek-ai/DeepSeek-R1", "Qwen/Qwen2.5-1.5B-Instruct", offline=False, eval_limit=100,
            eval_samples=1, max_new_tokens=4096),
    Profile("full", "deepseek-ai/DeepSeek-R1", "Qwen/Qwen3-8B", offline=False, eval_limit=None,
            eval_samples=4, max_new_tokens=32768),
)}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None
