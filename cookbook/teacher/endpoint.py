"""The recipe's teacher as an endpoint: a hosted API, or a local server started for it.

    teacher = open_teacher(session.recipe, log_path=run.stage_dir("teacher") / "server.log")
    results = generate(requests, teacher.config, cache=...)
    teacher.close()   # stops the local server, if one was started

A recipe with ``teacher.base_url`` talks to that API (the key read from the variable
named by ``teacher.api_key_env``). Without one, the teacher model is served locally:
``swift deploy`` on CPU (the tiny profile), ``vllm serve`` on GPU.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cookbook.hub import resolve_model
from cookbook.recipe import Recipe
from cookbook.teacher.config import TeacherConfig
from cookbook.teacher.server import LocalServer, swift_deploy, vllm_serve


@dataclass
class Teacher:
    config: TeacherConfig
    server: LocalServer | None = None

    @property
    def where(self) -> str:
        kind = "vllm serve" if self.server and "vllm" in self.server.command[0] else "swift deploy"
        return f"{self.config.base_url} ({kind}, started for this notebook)" if self.server else self.config.base_url

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()

    def __enter__(self) -> "Teacher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_teacher(recipe: Recipe, log_path: str | Path | None = None) -> Teacher:
    t = recipe.teacher
    sampling = {"temperature": t.temperature, "max_tokens": t.max_tokens}
    if t.base_url:
        config = TeacherConfig(base_url=t.base_url, model=recipe.teacher_model, api_key_env=t.api_key_env,
                               sampling=sampling, concurrency=t.concurrency)
        return Teacher(config)
    import torch

    model_dir = resolve_model(recipe.teacher_model)
    tiny = recipe.profile == "tiny"
    if torch.cuda.is_available() and not tiny:
        server = vllm_serve(model_dir, log_path=log_path)
    else:  # the tiny world's Qwen2 folders need model_type/template; a hub model does not
        server = swift_deploy(model_dir, log_path=log_path, max_batch_size=t.concurrency,
                              **({} if tiny else {"model_type": None, "template": None}))
    server.start()
    config = TeacherConfig(base_url=server.base_url, model=server.model_name, sampling=sampling,
                           concurrency=t.concurrency)
    return Teacher(config, server)


def stream_chat(config: TeacherConfig, messages: list[dict]) -> Iterator[tuple[str, str]]:
    """(kind, text) pieces as the teacher streams them: kind is "reasoning" or "answer".

    Reasoning arrives in a ``reasoning_content`` field (DeepSeek-R1 APIs) or inside
    ``<think>...</think>`` in the content (local servers without a reasoning parser).
    """
    from openai import OpenAI

    api = OpenAI(base_url=config.base_url, api_key=config.api_key(), timeout=config.timeout)
    in_think = False
    for chunk in api.chat.completions.create(model=config.model, messages=messages, stream=True,
                                             **config.sampling):
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        reasoning = getattr(delta, "reasoning_content", None) or (delta.model_extra or {}).get("reasoning_content")
        if reasoning:
            yield "reasoning", reasoning
        text = delta.content or ""
        while text:
            tag = "</think>" if in_think else "<think>"
            before, found, text = text.partition(tag)
            if before:
                yield ("reasoning" if in_think else "answer"), before
            if found:
                in_think = not in_think
