"""The recipe's teacher as an endpoint: a hosted API, or a local server started for it.

    teacher = open_teacher(session.recipe, log_path=run.stage_dir("teacher") / "server.log")
    results = generate(requests, teacher.config, cache=...)
    teacher.close()   # stops the local server, if one was started

A recipe with ``teacher.base_url`` talks to that API (the key read from the variable
named by ``teacher.api_key_env``); a list of URLs is several servers of one model, which
share the requests (cookbook.teacher.endpoints; ``teacher.cooldown``). Without one, the teacher model is served locally:
as the recipe's ``teacher.serve`` says: ``vllm serve`` or ``swift deploy`` (auto: vLLM
where there is a GPU).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cookbook.hub import resolve_model
from cookbook.recipe import Recipe
from cookbook.serving import reasoning_parser
from cookbook.teacher.config import TeacherConfig
from cookbook.teacher.reasoning import reasoning_of
from cookbook.teacher.server import LocalServer, swift_deploy, vllm_serve


@dataclass
class Teacher:
    config: TeacherConfig
    server: LocalServer | None = None

    @property
    def where(self) -> str:
        kind = "vllm serve" if self.server and "vllm" in self.server.command[0] else "swift deploy"
        urls = ", ".join(self.config.base_urls)
        return f"{urls} ({kind}, started for this notebook)" if self.server else urls

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
    limits = dict(concurrency=t.concurrency, requests_per_minute=t.requests_per_minute, cooldown=t.cooldown,
                  price_input_per_m=t.price_input_per_m, price_output_per_m=t.price_output_per_m)
    if t.base_url:
        config = TeacherConfig(base_url=t.base_url, model=recipe.teacher_model, api_key_env=t.api_key_env,
                               sampling=sampling, **limits)
        return Teacher(config)
    server = local_server(recipe, resolve_model(recipe.teacher_model), log_path)
    server.start()
    config = TeacherConfig(base_url=server.base_url, model=server.model_name, sampling=sampling, **limits)
    return Teacher(config, server)


def local_server(recipe: Recipe, model_dir: str | Path, log_path: str | Path | None = None) -> LocalServer:
    """The server a recipe without ``teacher.base_url`` starts for its teacher (not started yet;
    cookbook.plan prints its command)."""
    t = recipe.teacher
    if serving(t.serve) == "vllm":  # the parser by the model (cookbook.serving), or teacher.reasoning_parser
        return vllm_serve(model_dir, log_path=log_path, extra_args=t.vllm.serve_args(),
                          reasoning_parser=reasoning_parser(recipe.teacher_model, "teacher", recipe))
    # a local folder ms-swift cannot name (the tiny world's) needs teacher.model_type and template
    return swift_deploy(model_dir, log_path=log_path, max_batch_size=t.concurrency,
                        model_type=t.model_type, template=t.template)


def serving(choice: str) -> str:
    """``swift`` or ``vllm`` for a recipe's ``teacher.serve`` (auto: vllm serve where there is a GPU)."""
    if choice != "auto":
        return choice
    import torch

    return "vllm" if torch.cuda.is_available() else "swift"


def stream_chat(config: TeacherConfig, messages: list[dict]) -> Iterator[tuple[str, str]]:
    """(kind, text) pieces as the teacher streams them: kind is "reasoning" or "answer".

    Reasoning arrives in a ``reasoning_content`` field (DeepSeek-R1 APIs), a ``reasoning``
    field (recent vLLM) or inside ``<think>...</think>`` in the content (local servers
    without a reasoning parser). One conversation: the first of several endpoints answers it.
    """
    from openai import OpenAI

    api = OpenAI(base_url=config.base_urls[0], api_key=config.api_key(), timeout=config.timeout)
    in_think = False
    for chunk in api.chat.completions.create(model=config.model, messages=messages, stream=True,
                                             **config.sampling):
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        reasoning = reasoning_of(delta.model_dump())
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
