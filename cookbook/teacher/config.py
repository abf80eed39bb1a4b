"""How to reach a teacher: endpoint, model, key variable, sampling, limits and prices.

The API key is never part of the configuration: ``api_key_env`` holds the *name* of the
environment variable, and the key is read from it only when the HTTP client is built, so
a config can be printed, logged, hashed and saved without leaking it.

``base_url`` is one endpoint or several (a list or tuple: several servers of one model,
e.g. one ``vllm serve`` per GPU). With several, requests are spread over them and one
that fails is skipped for ``cooldown`` seconds (cookbook.teacher.endpoints).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

# Local servers (swift deploy, vllm serve) accept any key, and the SDK insists on one.
NO_KEY = "EMPTY"


class MissingApiKey(RuntimeError):
    pass


@dataclass(frozen=True)
class TeacherConfig:
    base_url: str | Sequence[str]      # e.g. https://api-inference.modelscope.cn/v1, or several (one model)
    model: str                         # the name the endpoint serves
    api_key_env: str | None = None     # NAME of the variable holding the key; None: no key
    sampling: dict = field(default_factory=dict)  # temperature, max_tokens, top_p, logprobs...
    stream: bool = True                # R1-style APIs send long answers; streams survive proxies better
    concurrency: int = 64              # requests in flight
    requests_per_minute: float | None = None  # attempts started per minute (an API's quota); None: unpaced
    timeout: float = 600.0             # seconds per attempt, whole answer included
    max_attempts: int = 6              # per request, first try included
    backoff_initial: float = 1.0       # seconds before the 2nd attempt (then doubling, jittered)
    backoff_max: float = 60.0          # cap on one wait, also on a server's Retry-After
    price_input_per_m: float | None = None   # currency per million prompt tokens, for the progress bar
    price_output_per_m: float | None = None  # currency per million completion tokens
    cooldown: float = 30.0             # seconds a failing endpoint is skipped (several base_urls)

    def __post_init__(self):
        if not isinstance(self.base_url, str):  # a list from YAML: kept as a tuple (frozen, like the rest)
            object.__setattr__(self, "base_url", tuple(self.base_url))
        if not self.base_urls or not all(isinstance(u, str) and u for u in self.base_urls):
            raise ValueError(f"base_url must be a URL or a non-empty list of URLs, got {self.base_url!r}")
        if self.cooldown < 0:
            raise ValueError("cooldown must be >= 0 seconds")
        if self.concurrency < 1 or self.max_attempts < 1 or self.timeout <= 0:
            raise ValueError("concurrency and max_attempts must be >= 1 and timeout > 0")
        if self.requests_per_minute is not None and self.requests_per_minute <= 0:
            raise ValueError("requests_per_minute must be > 0 (or None: no pacing)")

    @property
    def base_urls(self) -> tuple[str, ...]:
        """Every endpoint, in the order given (one for a plain ``base_url``)."""
        return (self.base_url,) if isinstance(self.base_url, str) else self.base_url

    def api_key(self) -> str:
        """The key from the environment (read late, never stored on the config)."""
        if self.api_key_env is None:
            return NO_KEY
        key = os.environ.get(self.api_key_env)
        if not key:
            raise MissingApiKey(
                f"the teacher's API key is read from the environment variable {self.api_key_env}, "
                f"which is not set: export it before starting Jupyter (never put it in a notebook)"
            )
        return key

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        if self.price_input_per_m is None and self.price_output_per_m is None:
            return None
        return (prompt_tokens * (self.price_input_per_m or 0.0)
                + completion_tokens * (self.price_output_per_m or 0.0)) / 1e6
