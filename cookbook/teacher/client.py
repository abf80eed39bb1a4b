"""Ask an OpenAI-compatible teacher many questions at once, resumably.

    results = generate(prompts, TeacherConfig(base_url=..., model=..., api_key_env=...),
                       cache="runs/demo/teacher/cache.jsonl")

* ``concurrency`` requests are in flight at once (a pool of that many workers, so that
  100,000 requests do not become 100,000 pending tasks);
* each attempt has a deadline; failed attempts are retried (see retry.py); a request that
  still fails becomes a failed row with its reason, and the run goes on;
* every result is appended to the cache as it arrives; a re-run answers cached rows from
  the file and sends only the rest (failed rows are sent again);
* results come back in the order of the requests.

The reply is read from a stream by default (reasoning models answer for minutes, and a
stream keeps the connection alive); ``stream=False`` asks for one JSON body instead.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from pathlib import Path

from openai import AsyncOpenAI, DefaultAioHttpClient
from openai.resources.chat.completions import AsyncCompletions

from cookbook.teacher.cache import ResultCache
from cookbook.teacher.config import TeacherConfig
from cookbook.teacher.progress import TeacherProgress
from cookbook.teacher.reasoning import split_reply
from cookbook.teacher.records import Messages, Request, Result, keyed
from cookbook.teacher.retry import IncompleteAnswer, describe, retrying
from cookbook.teacher.sync import run_sync

log = logging.getLogger(__name__)

# Parameters the SDK takes by name; any other (top_k, repetition_penalty, ...) goes to extra_body.
_SDK_PARAMS = set(inspect.signature(AsyncCompletions.create).parameters) - {"self", "messages", "model", "stream"}


class TeacherClient:
    def __init__(self, config: TeacherConfig, cache: str | Path | None = None, progress: bool = True):
        self.config = config
        self.cache_path = Path(cache) if cache is not None else None
        self.progress = progress

    def __repr__(self) -> str:  # the key is not an attribute, so it cannot show up here
        c = self.config
        return (f"TeacherClient(model={c.model!r}, base_url={c.base_url!r}, api_key_env={c.api_key_env!r}, "
                f"concurrency={c.concurrency}, cache={str(self.cache_path) if self.cache_path else None!r})")

    def generate(self, requests: list[Request]) -> list[Result]:
        """Blocking version of :meth:`agenerate`, also inside Jupyter's running loop."""
        return run_sync(self.agenerate(requests))

    async def agenerate(self, requests: list[Request]) -> list[Result]:
        cfg = self.config
        items = keyed(requests, cfg.model, cfg.sampling)
        for _, _, params in items:
            if params.get("n", 1) != 1:
                raise ValueError("n > 1 is not supported: repeat the request instead (each repeat is cached apart)")
        results: list[Result | None] = [None] * len(items)
        cache = ResultCache(self.cache_path).open() if self.cache_path else None
        bar = None
        try:
            todo = []
            for i, (key, _, _) in enumerate(items):
                hit = cache.answered(key) if cache else None
                if hit is not None:
                    results[i] = hit
                else:
                    todo.append(i)
            bar = TeacherProgress(len(items), len(items) - len(todo), cfg, enabled=self.progress)
            if todo:
                async with AsyncOpenAI(base_url=cfg.base_url, api_key=cfg.api_key(), max_retries=0,
                                       timeout=cfg.timeout, http_client=DefaultAioHttpClient(timeout=cfg.timeout)) as api:
                    pending = iter(todo)  # shared by the workers; next() never awaits, so no lock

                    async def worker():
                        for i in pending:
                            result = await self._ask(api, *items[i])
                            if cache:
                                cache.append(result)
                            results[i] = result
                            bar.update(result)

                    await asyncio.gather(*(worker() for _ in range(min(cfg.concurrency, len(todo)))))
        finally:
            if bar:
                bar.close()
            if cache:
                cache.close()
        _log_failures(results)
        return results  # type: ignore[return-value]  # every slot is filled once gather returns

    async def _ask(self, api: AsyncOpenAI, key: str, messages: Messages, params: dict) -> Result:
        cfg = self.config
        start, attempts = time.monotonic(), 0
        row = dict(key=key, model=cfg.model, messages=messages, params=params)
        try:
            async for attempt in retrying(cfg.max_attempts, cfg.backoff_initial, cfg.backoff_max):
                with attempt:
                    attempts += 1
                    reply = await asyncio.wait_for(self._call(api, messages, params), cfg.timeout)
        except Exception as e:  # recorded, never raised: one bad row must not stop the run
            return Result(**row, status="failed", error=describe(e), attempts=attempts,
                          seconds=time.monotonic() - start)
        reasoning, answer = split_reply(reply["content"], reply["reasoning"])
        return Result(**row, status="ok", reasoning=reasoning, answer=answer, content=reply["content"],
                      finish_reason=reply["finish_reason"], usage=reply["usage"], logprobs=reply["logprobs"],
                      attempts=attempts, seconds=time.monotonic() - start)

    async def _call(self, api: AsyncOpenAI, messages: Messages, params: dict) -> dict:
        """One attempt: the reply's content, reasoning field, finish reason, usage, logprobs.

        The SDK sends the request and turns error statuses into exceptions; the body is read
        as plain JSON. (Building the SDK's typed objects for every stream chunk cost more CPU
        than everything else in the client; on 2 cores that capped us at ~300 requests/s.)
        """
        named = {k: v for k, v in params.items() if k in _SDK_PARAMS}
        extra = {k: v for k, v in params.items() if k not in _SDK_PARAMS}
        kwargs = dict(model=self.config.model, messages=messages, extra_body=extra or None, **named)
        if self.config.stream:
            kwargs.setdefault("stream_options", {"include_usage": True})
        create = api.chat.completions.with_streaming_response.create
        async with create(stream=self.config.stream, **kwargs) as response:
            if not self.config.stream:
                return _reply_from_body(json.loads(await response.read()))
            reply = _Reply()
            async for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue  # blank separators, ": keep-alive" comments, event names
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                reply.add_chunk(json.loads(data))
        if reply.finish_reason is None:
            raise IncompleteAnswer("the stream ended without a finish_reason (cut off)")
        return reply.as_dict()


class _Reply:
    """A streamed reply put back together from its chunks (plain dicts)."""

    def __init__(self):
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.logprobs: list[dict] = []
        self.finish_reason = self.usage = None

    def add_chunk(self, chunk: dict) -> None:
        if chunk.get("error"):  # some servers report a failure inside the stream
            raise StreamError(str(chunk["error"])[:300])
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            self.content.append(delta.get("content") or "")
            self.reasoning.append(_reasoning_of(delta) or "")
            self.logprobs += _tokens(choice.get("logprobs"))
            self.finish_reason = choice.get("finish_reason") or self.finish_reason

    def as_dict(self) -> dict:
        return dict(content="".join(self.content), reasoning="".join(self.reasoning) or None,
                    finish_reason=self.finish_reason, usage=self.usage, logprobs=self.logprobs or None)


class StreamError(RuntimeError):
    pass


def _reply_from_body(body: dict) -> dict:
    choice = body["choices"][0]
    message = choice.get("message") or {}
    return dict(content=message.get("content"), reasoning=_reasoning_of(message),
                finish_reason=choice.get("finish_reason"), usage=body.get("usage"),
                logprobs=_tokens(choice.get("logprobs")) or None)


def _reasoning_of(message: dict) -> str | None:
    # DeepSeek and most R1 hosts say reasoning_content; recent vLLM says reasoning.
    return message.get("reasoning_content") or message.get("reasoning")


def _tokens(logprobs: dict | None) -> list[dict]:
    """Per-token logprobs without the UTF-8 byte lists, which would triple the cache's size."""
    if not logprobs or not logprobs.get("content"):
        return []
    return [{"token": t["token"], "logprob": t["logprob"],
             "top_logprobs": [{"token": a["token"], "logprob": a["logprob"]} for a in t.get("top_logprobs") or ()]}
            for t in logprobs["content"]]


def _log_failures(results: list[Result | None]) -> None:
    failed = [r for r in results if r is not None and not r.ok]
    if failed:
        reasons = sorted({r.error for r in failed})[:3]
        log.warning("%d of %d teacher requests failed (they are retried on the next run); reasons include: %s",
                    len(failed), len(results), "; ".join(reasons))


def generate(requests: list[Request], config: TeacherConfig, cache: str | Path | None = None,
             progress: bool = True) -> list[Result]:
    """Answers to ``requests`` in their order; blocking, works in scripts and notebooks."""
    return TeacherClient(config, cache, progress).generate(requests)


async def agenerate(requests: list[Request], config: TeacherConfig, cache: str | Path | None = None,
                    progress: bool = True) -> list[Result]:
    """The same, for async code (``await agenerate(...)`` in a notebook cell)."""
    return await TeacherClient(config, cache, progress).agenerate(requests)
