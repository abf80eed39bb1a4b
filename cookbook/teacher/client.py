"""Ask an OpenAI-compatible teacher many questions at once, resumably.

    results = generate(prompts, TeacherConfig(base_url=..., model=..., api_key_env=...),
                       cache="runs/demo/teacher/cache.jsonl")

* ``concurrency`` requests are in flight at once, and at most ``requests_per_minute``
  attempts start per minute when the config sets it (an API's quota), evenly spaced
  (aiolimiter's leaky bucket of one), retries included (a pool of that many workers, so that
  100,000 requests do not become 100,000 pending tasks);
* each attempt has a deadline; failed attempts are retried (see retry.py); a request that
  still fails becomes a failed row with its reason, and the run goes on;
* every result is appended to the cache as it arrives; a re-run answers cached rows from
  the file and sends only the rest (failed rows are sent again);
* results come back in the order of the requests;
* ``base_url`` may list several endpoints of one model: each attempt goes to the least busy,
  and one that fails is skipped for ``cooldown`` seconds, its request retried on another
  (cookbook.teacher.endpoints); after the run, ``endpoint_stats`` says how each one fared.

The reply is read from a stream by default (reasoning models answer for minutes, and a
stream keeps the connection alive); ``stream=False`` asks for one JSON body instead.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path

import httpx2
from aiolimiter import AsyncLimiter
from openai import AsyncOpenAI, AsyncStream, DefaultAioHttpClient

from cookbook.teacher.cache import ResultCache
from cookbook.teacher.config import TeacherConfig
from cookbook.teacher.endpoints import Endpoint, EndpointPool, endpoint_failure
from cookbook.teacher.progress import TeacherProgress
from cookbook.teacher.reasoning import reasoning_of, split_reply
from cookbook.teacher.requests import Messages, Request, Result, keyed
from cookbook.teacher.retry import IncompleteAnswer, describe, retrying
from cookbook.teacher.sync import run_sync

log = logging.getLogger(__name__)


class TeacherClient:
    def __init__(self, config: TeacherConfig, cache: str | Path | None = None, progress: bool = True):
        self.config = config
        self.cache_path = Path(cache) if cache is not None else None
        self.progress = progress
        self.endpoint_stats: dict[str, dict] = {}  # url -> answered / failed / cooldowns, after a run

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
                pace = AsyncLimiter(1, 60 / cfg.requests_per_minute) if cfg.requests_per_minute else None
                pool = EndpointPool.of(cfg.base_urls, lambda url: _api(cfg, url), cfg.cooldown)
                try:
                    pending = iter(todo)  # shared by the workers; next() never awaits, so no lock

                    async def worker():
                        for i in pending:
                            result = await self._ask(pool, pace, *items[i])
                            if cache:
                                cache.append(result)
                            results[i] = result
                            bar.update(result)

                    workers = [asyncio.ensure_future(worker()) for _ in range(min(cfg.concurrency, len(todo)))]
                    try:
                        await asyncio.gather(*workers)
                    finally:  # one worker failed (disk full?) or we were cancelled: stop the others too
                        for w in workers:
                            w.cancel()
                        await asyncio.gather(*workers, return_exceptions=True)
                finally:
                    await pool.close()
                    self.endpoint_stats = pool.stats()
                    if pool.several:
                        log.info("teacher endpoints: %s", self.endpoint_stats)
        finally:
            if bar:
                bar.close()
            if cache:
                cache.close()
        _log_failures(results)
        return results  # type: ignore[return-value]  # every slot is filled once gather returns

    async def _ask(self, pool: EndpointPool, pace: AsyncLimiter | None, key: str, messages: Messages,
                   params: dict) -> Result:
        cfg = self.config
        start, attempts = time.monotonic(), 0
        row = dict(key=key, model=cfg.model, messages=messages, params=params)
        last: Endpoint | None = None

        def at_once(error: BaseException) -> bool:  # another endpoint can take the retry now
            return endpoint_failure(error) and pool.elsewhere(last)

        try:
            async for attempt in retrying(cfg.max_attempts, cfg.backoff_initial, cfg.backoff_max, at_once):
                with attempt:
                    attempts += 1
                    if pace:
                        await pace.acquire()
                    last = await pool.acquire(avoid=last)
                    try:
                        reply = await _within(cfg.timeout, self._call(last.api, messages, params))
                    except BaseException as e:
                        pool.release(last, e)
                        raise
                    pool.release(last)
        except Exception as e:  # recorded, never raised: one bad row must not stop the run
            return Result(**row, status="failed", error=describe(e), attempts=attempts,
                          seconds=time.monotonic() - start)
        reasoning, answer = split_reply(reply["content"], reply["reasoning"])
        return Result(**row, status="ok", reasoning=reasoning, answer=answer, content=reply["content"],
                      finish_reason=reply["finish_reason"], usage=reply["usage"], logprobs=reply["logprobs"],
                      attempts=attempts, seconds=time.monotonic() - start)

    async def _call(self, api: AsyncOpenAI, messages: Messages, params: dict) -> dict:
        """One attempt: the reply's content, reasoning field, finish reason, usage, logprobs.

        Sent with the SDK's generic ``post`` and read as plain dicts rather than through
        ``chat.completions.create``, whose typed request and chunk objects cost more CPU than
        everything else here (measured: 0.8 vs 0.55 ms per request, plus the typed chunks
        of every stream) and do not type ``reasoning_content`` anyway. The SDK still builds
        and sends the request, adds the key, raises its typed errors for error statuses
        and decodes the event stream.
        """
        body = {"model": self.config.model, "messages": messages, **params, "stream": self.config.stream}
        if not self.config.stream:
            return _reply_from_body(await api.post("/chat/completions", body=body, cast_to=object))
        body.setdefault("stream_options", {"include_usage": True})
        reply = _Reply()
        stream = await api.post("/chat/completions", body=body, cast_to=object, stream=True,
                                stream_cls=AsyncStream[object])
        async with stream:  # closes the connection also when the deadline cancels us mid-stream
            async for chunk in stream:
                reply.add_chunk(chunk)
        if reply.finish_reason is None:
            raise IncompleteAnswer("the stream ended without a finish_reason (cut off)")
        return reply.as_dict()


async def _within(seconds: float, coro):
    """The coroutine's result, or TimeoutError (a retried failure) once the deadline passes."""
    try:
        if sys.version_info >= (3, 11):
            async with asyncio.timeout(seconds):  # no extra task per attempt, unlike wait_for
                return await coro
        return await asyncio.wait_for(coro, seconds)
    except asyncio.TimeoutError:
        raise TimeoutError(f"no complete answer within {seconds:g} s") from None


def _api(cfg: TeacherConfig, base_url: str) -> AsyncOpenAI:
    # Retries are ours (the SDK's would not cover broken bodies or cut streams). The SDK's
    # aiohttp transport costs about half the CPU of its default httpx one at 64 connections
    # in flight, where the httpx pool scans every connection for each request.
    http = DefaultAioHttpClient(timeout=cfg.timeout, limits=httpx2.Limits(
        max_connections=cfg.concurrency + 8, max_keepalive_connections=cfg.concurrency))
    return AsyncOpenAI(base_url=base_url, api_key=cfg.api_key(), max_retries=0, timeout=cfg.timeout,
                       http_client=http)


class _Reply:
    """A streamed reply put back together from its chunks (plain dicts)."""

    def __init__(self):
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.logprobs: list[dict] = []
        self.finish_reason = self.usage = None

    def add_chunk(self, chunk: dict) -> None:
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            self.content.append(delta.get("content") or "")
            self.reasoning.append(reasoning_of(delta) or "")
            self.logprobs += _tokens(choice.get("logprobs"))
            self.finish_reason = choice.get("finish_reason") or self.finish_reason

    def as_dict(self) -> dict:
        return dict(content="".join(self.content), reasoning="".join(self.reasoning) or None,
                    finish_reason=self.finish_reason, usage=self.usage, logprobs=self.logprobs or None)


def _reply_from_body(body: dict) -> dict:
    choice = body["choices"][0]
    message = choice.get("message") or {}
    return dict(content=message.get("content"), reasoning=reasoning_of(message),
                finish_reason=choice.get("finish_reason"), usage=body.get("usage"),
                logprobs=_tokens(choice.get("logprobs")) or None)


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
