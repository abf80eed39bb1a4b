"""How each model of a recipe is served: its reasoning parser, ms-swift names and thinking mode.

The reasoning parser follows the model, not the stage. vLLM's parser moves the reasoning
out of the answer into its own field, and evalscope scores the answer only, so the wrong
parser costs a whole score: the R1 parser (``deepseek_r1``) puts everything before a
``</think>`` into ``reasoning``, and with no ``</think>`` at all, everything; a plain
instruct model (Qwen2.5-Instruct) writes no ``</think>``, so its whole answer would land in
``reasoning`` and score 0. :func:`reasoning_parser` decides, first row that matches:

===========================================================  ==============  =============
the model                                                    role            parser
===========================================================  ==============  =============
the recipe says so (``eval.reasoning_parser`` for students,  any             that one
``teacher.reasoning_parser`` for a local teacher), not auto                  (none: None)
Qwen3: template ``qwen3``/``qwen3_thinking``, or a model     any             ``qwen3``
id or folder whose name holds ``qwen3``
Qwen3-Instruct-2507 (``qwen3_nothinking``: no ``<think>``)   base            None
an R1 reasoning model by name: DeepSeek-R1 and its           any             ``deepseek_r1``
distills (``r1``), QwQ
a plain instruct model (Qwen2.5-Instruct, ``qwen2_5``)       base            None
a student distilled on ``<think>`` chains (``qwen2_5``...)   distilled       ``deepseek_r1``
a teacher served locally (it writes the chains)              teacher         ``deepseek_r1``
===========================================================  ==============  =============

vLLM's ``qwen3`` parser reads ``<think>...</think>`` when the model thinks and leaves an
answer without them as the answer (Qwen3 with ``enable_thinking`` off), so it also fits a
Qwen3 student distilled on ``<think>`` chains.

Students (the base student and every distilled one) share the student's family: their
facts are ``train.model_type``, ``train.template`` and ``train.thinking``; a local teacher's
are ``teacher.model_type`` and ``teacher.template``.

Thinking mode (``train.thinking``, Qwen3's ``enable_thinking``): ``None`` leaves every tool
at its template's default; ``True`` or ``False`` is passed to each of them by name:
``--enable_thinking`` for ms-swift (sft, rlhf, deploy; cookbook.train.args), the chat
template's keyword arguments where the cookbook generates in process
(:func:`chat_template_kwargs`), and evalscope's generation config (cookbook.eval.runner).
"""

from __future__ import annotations

import re

from cookbook.recipe import Recipe

PARSERS = ("deepseek_r1", "qwen3")
ROLES = ("teacher", "base", "distilled")
# R1 reasoning models by name: DeepSeek-R1 (deepseek-r1, deepseek-ai/DeepSeek-R1-0528), its distills
# (DeepSeek-R1-Distill-Qwen-7B), and QwQ, which vLLM's docs serve with the R1 parser too.
_R1_NAME = re.compile(r"(^|[^a-z0-9])(r1|qwq)([^a-z0-9]|$)")


def _names(*refs: str | None) -> str:
    return " ".join(str(r).lower() for r in refs if r)


def is_qwen3(template: str | None, *refs: str | None) -> bool:
    """A Qwen3 model: ms-swift's template qwen3 / qwen3_thinking / qwen3_nothinking, or a name holding qwen3."""
    return bool(template and template.startswith("qwen3")) or "qwen3" in _names(*refs)


def is_r1(*refs: str | None) -> bool:
    """An R1-style reasoning model by its id or folder name (DeepSeek-R1, its distills, QwQ)."""
    return bool(_R1_NAME.search(_names(*refs)))


def model_facts(role: str, recipe: Recipe) -> tuple[str | None, str | None, str]:
    """(ms-swift model_type, template, the recipe's model id) of a role: students share the student's family."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if role == "teacher":
        return recipe.teacher.model_type, recipe.teacher.template, recipe.teacher_model
    return recipe.train.model_type, recipe.train.template, recipe.student_model


def thinking(role: str, recipe: Recipe) -> bool | None:
    """The thinking mode a role is served and sampled with: ``train.thinking`` for students, None for the teacher."""
    return None if role == "teacher" else recipe.train.thinking


def reasoning_parser(model_ref: str | None, role: str, recipe: Recipe) -> str | None:
    """vLLM's ``--reasoning-parser`` for one model (None: no parser); the table in this module's docstring.

    ``model_ref``: the model as it is served (a hub id or a folder: a distilled student's
    folder names no family, so the recipe's model id and template are read too); ``role``:
    teacher, base or distilled.
    """
    _, template, model_id = model_facts(role, recipe)
    override = recipe.teacher.reasoning_parser if role == "teacher" else recipe.eval.reasoning_parser
    if override != "auto":
        return None if override == "none" else override
    if is_qwen3(template, model_ref, model_id):
        if role == "base" and (template == "qwen3_nothinking" or "instruct-2507" in _names(model_ref, model_id)):
            return None  # Qwen3-Instruct-2507 writes no <think>
        return "qwen3"
    if is_r1(model_ref, model_id):
        return "deepseek_r1"
    if role == "base":
        return None  # a plain instruct model writes no </think>: the R1 parser would take its whole answer
    return "deepseek_r1"  # a distilled student writes the teacher's <think> chains; a teacher writes them too


def chat_template_kwargs(enable_thinking: bool | None) -> dict:
    """The chat template's keyword arguments for a thinking mode: {} for None (the template's default)."""
    return {} if enable_thinking is None else {"enable_thinking": enable_thinking}


def swift_thinking_args(enable_thinking: bool | None) -> list[str]:
    """ms-swift's flag for a thinking mode (``swift deploy``, ``sft``, ``rlhf``): none for None."""
    return [] if enable_thinking is None else ["--enable_thinking", "true" if enable_thinking else "false"]
