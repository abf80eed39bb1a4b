"""When to try a teacher request again, and how long to wait first.

Retried: rate limits (429), server errors (5xx, 408, 409), timeouts, dropped connections,
bodies that are not valid JSON, streams that end without a finish reason, anything else
that goes wrong while reading an answer. Not retried: the other 4xx (bad request, wrong
key, unknown model), which a second attempt cannot fix.

The wait is the server's Retry-After (or OpenAI's retry-after-ms) when it gives one,
otherwise jittered exponential backoff ("full jitter": uniform in [0, initial * 2^n]),
both capped, so that 64 requests hit by one 429 do not come back in lock-step. With several
endpoints, a retry that another endpoint can take at once does not wait (cookbook.teacher.endpoints).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable

import openai
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_random_exponential

_RETRIED_STATUS = {408, 409, 429}


class IncompleteAnswer(RuntimeError):
    """A stream ended (cleanly) before the teacher said it had finished."""


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in _RETRIED_STATUS or exc.status_code >= 500
    return isinstance(exc, Exception)  # transport, timeout, parse and truncation errors


def retry_after_seconds(exc: BaseException | None) -> float | None:
    """The delay a server asked for in its response headers, if any."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if not headers:
        return None
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if not value:
            return None
        if value.strip().replace(".", "", 1).isdigit():
            return float(value)
        when = email.utils.parsedate_to_datetime(value)  # the other form: an HTTP date
        return max(0.0, when.timestamp() - time.time())
    except (ValueError, TypeError):  # a header we cannot read: fall back to our own backoff
        return None


class WaitRetryAfter:
    """Tenacity wait: the server's Retry-After if given, else jittered exponential backoff;
    none at all when ``at_once(error)`` says another endpoint can take the retry now."""

    def __init__(self, initial: float, maximum: float, at_once: Callable[[BaseException], bool] | None = None):
        self.maximum = maximum
        self.fallback = wait_random_exponential(multiplier=initial, max=maximum)
        self.at_once = at_once

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        asked = retry_after_seconds(error)
        if asked is None and error is not None and self.at_once and self.at_once(error):
            return 0.0
        return min(asked, self.maximum) if asked is not None else self.fallback(state)


def retrying(max_attempts: int, initial: float, maximum: float,
             at_once: Callable[[BaseException], bool] | None = None) -> AsyncRetrying:
    return AsyncRetrying(
        stop=stop_after_attempt(max_attempts),
        wait=WaitRetryAfter(initial, maximum, at_once),
        retry=retry_if_exception(is_retryable),
        reraise=True,  # the last error itself, so the row records the real reason
    )


def describe(exc: BaseException) -> str:
    """A one-line reason for a failed row: status code and message, or the exception type."""
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code} {type(exc).__name__}: {exc.message}"[:500]
    return f"{type(exc).__name__}: {exc}"[:500]
