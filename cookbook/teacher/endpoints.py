"""Several endpoints of one teacher: spread the requests, skip the one that fails for a while.

    teacher:
      base_url: [http://127.0.0.1:8001/v1, http://127.0.0.1:8002/v1]   # one vllm serve per GPU
      cooldown: 30                                                      # seconds a failed one is skipped

* each attempt goes to the endpoint with the fewest requests in flight (ties in turn), so
  a slow server gets fewer;
* an endpoint that cannot be reached (connection refused or reset) is skipped for
  ``cooldown`` seconds at once; one that answers 5xx or times out, after
  :data:`FAILURES_TO_COOL` such failures in a row with no answer between (one request that
  makes every server fail must not take them all out);
* the attempt that failed is tried again at once on another endpoint (no backoff: the other
  one is fine), and counts as one of the request's ``max_attempts``;
* when every endpoint cools down, an attempt waits for the first to come back; one that comes
  back takes one request until it answers again (a server still down costs one attempt, not
  ``concurrency`` of them);
* a 429 is a quota, not a failure: it is retried after its Retry-After (cookbook.teacher.retry),
  and the endpoint stays in the rotation.

With one endpoint nothing changes: it never cools down, and failed attempts wait their backoff.
Which endpoint answered is not part of a result or of its cache key, so a cache written
through N servers is read back through one, or through a hosted API of the same model.

N local servers. A teacher the cookbook serves itself (no ``base_url``) is one ``vllm serve``;
``teacher.vllm.data_parallel_size: N`` makes it N engine copies behind that one URL, balanced
by vLLM itself, so that needs no list. The list is for servers started apart: one per GPU
(a crash takes one out, not all), or on other machines, e.g.

    for i in 0 1 2 3; do CUDA_VISIBLE_DEVICES=$i vllm serve deepseek-ai/DeepSeek-R1-Distill-Qwen-7B \
        --port $((8001 + i)) --reasoning-parser deepseek_r1 & done

with, in the recipe, ``teacher.model: deepseek-ai/DeepSeek-R1-Distill-Qwen-7B`` (the name each
server answers to) and ``teacher.base_url: [http://127.0.0.1:8001/v1, ..., http://127.0.0.1:8004/v1]``. For
splitting one question set over machines, each with its own cache, see cookbook.teacher.shards.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import time
from dataclasses import dataclass, field

import aiohttp
import openai

log = logging.getLogger(__name__)

FAILURES_TO_COOL = 3  # 5xx or timeouts in a row that take an endpoint out


def endpoint_failure(exc: BaseException) -> bool:
    """Maybe the server's fault: no connection, a timeout, a 5xx, a broken stream. Not: a 4xx
    (the request's fault, or a 429 quota) or a cancelled attempt."""
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code >= 500
    return isinstance(exc, Exception)


def unreachable(exc: BaseException) -> bool:
    """Nobody answers there (refused, reset, hung up, unknown host): no point in trying again soon.

    Read from the causes: the SDK's aiohttp transport reports a refused connection as an
    APITimeoutError (it maps aiohttp's connection errors to httpx's ConnectTimeout).
    """
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, ConnectionError | socket.gaierror | aiohttp.ClientConnectorError
                      | aiohttp.ServerDisconnectedError):
            return True
        if isinstance(exc, openai.APIConnectionError) and not isinstance(exc, openai.APITimeoutError):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


@dataclass
class Endpoint:
    url: str
    api: object = None            # its AsyncOpenAI client
    in_flight: int = 0
    failures_in_row: int = 0
    cool_until: float = 0.0       # time.monotonic() before which it is skipped
    probation: bool = False       # back from a cool-down: one request until it answers
    answered: int = 0
    failed: int = 0
    cooldowns: int = 0

    def ready(self, now: float) -> bool:
        return now >= self.cool_until and not (self.probation and self.in_flight)


@dataclass
class EndpointPool:
    endpoints: list[Endpoint]
    cooldown: float = 30.0
    _turn: itertools.count = field(default_factory=itertools.count)
    _changed: asyncio.Event | None = None

    @classmethod
    def of(cls, urls, make_api, cooldown: float) -> "EndpointPool":
        return cls([Endpoint(url, make_api(url)) for url in urls], cooldown)

    @property
    def several(self) -> bool:
        return len(self.endpoints) > 1

    async def acquire(self, avoid: Endpoint | None = None) -> Endpoint:
        """The endpoint for the next attempt (waits while every one cools down); release() it after."""
        while True:
            now = time.monotonic()
            ready = [e for e in self.endpoints if not self.several or e.ready(now)]
            if ready:
                others = [e for e in ready if e is not avoid] or ready  # a retry goes elsewhere if it can
                turn, n = next(self._turn), len(self.endpoints)
                chosen = min(others, key=lambda e: (e.in_flight, (self.endpoints.index(e) - turn) % n))
                chosen.in_flight += 1
                return chosen
            await self._wait_for_change(min(e.cool_until for e in self.endpoints) - now)

    async def _wait_for_change(self, seconds: float) -> None:
        """Until the first cool-down ends, or an endpoint on probation answers or fails."""
        if self._changed is None:
            self._changed = asyncio.Event()
        try:
            await asyncio.wait_for(self._changed.wait(), max(seconds, 0.0) + 0.001)
        except asyncio.TimeoutError:
            pass

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None  # waiters woken; the next wait makes a new event

    def release(self, endpoint: Endpoint, error: BaseException | None = None) -> None:
        endpoint.in_flight -= 1
        if error is None:
            endpoint.answered += 1
            endpoint.failures_in_row, endpoint.probation = 0, False
        elif endpoint_failure(error):
            endpoint.failed += 1
            endpoint.failures_in_row += 1
            if self.several and (unreachable(error) or endpoint.probation
                                 or endpoint.failures_in_row >= FAILURES_TO_COOL):
                self._cool(endpoint, error)
        self._notify()

    def _cool(self, endpoint: Endpoint, error: BaseException) -> None:
        now = time.monotonic()
        if endpoint.cool_until <= now:  # the other requests in flight there fail too: count one cool-down
            endpoint.cooldowns += 1
            log.warning("teacher endpoint %s skipped for %g s: %s", endpoint.url, self.cooldown, _root(error))
        endpoint.cool_until = now + self.cooldown
        endpoint.probation = True

    def elsewhere(self, endpoint: Endpoint | None) -> bool:
        """Whether another endpoint can take an attempt now (then a retry need not wait)."""
        now = time.monotonic()
        return self.several and any(e is not endpoint and e.ready(now) for e in self.endpoints)

    def stats(self) -> dict[str, dict]:
        return {e.url: {"answered": e.answered, "failed": e.failed, "cooldowns": e.cooldowns}
                for e in self.endpoints}

    async def close(self) -> None:
        for e in self.endpoints:
            await e.api.close()


def _root(exc: BaseException) -> str:
    """The first cause that says what happened (the SDK's own message is often only "timed out")."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return f"{type(exc).__name__}: {exc}"[:200]
