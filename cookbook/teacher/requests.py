"""Teacher requests and results: what is asked, what came back, and the key that ties them.

A request is a user prompt (str), a list of chat messages, or a dict
``{"messages": [...], "params": {...}}`` whose params override the config's sampling for
that request. Its key is a hash of (model, messages, sampling parameters): the cache
finds an earlier answer by it, whatever the order of the requests in a later run.
Identical requests in one batch (several samples of one prompt) get distinct keys: the
n-th repeat adds ``repeat: n`` to what is hashed.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, Union

Messages = list[dict]
Request = Union[str, Messages, dict]


@dataclass
class Result:
    key: str
    status: Literal["ok", "failed"]
    model: str
    messages: Messages
    params: dict
    reasoning: str | None = None        # the chain of thought (field or <think> block)
    answer: str | None = None           # the content without the think block
    content: str | None = None          # the content as the teacher sent it
    finish_reason: str | None = None    # "stop", or "length" when max_tokens cut it off
    usage: dict | None = None           # prompt_tokens, completion_tokens, ... as reported
    logprobs: list | None = None        # per token {token, logprob, top_logprobs}, when asked for
    error: str | None = None            # why a failed row failed (status code or exception)
    attempts: int = 0
    seconds: float = 0.0                # wall time over all attempts
    cached: bool = field(default=False, compare=False)  # read from the cache in this run (not saved)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_row(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "cached"}

    @classmethod
    def from_row(cls, row: dict) -> "Result":
        known = {k: v for k, v in row.items() if k in cls.__dataclass_fields__ and k != "cached"}
        return cls(**known, cached=True)


def normalize(request: Request, sampling: dict) -> tuple[Messages, dict]:
    """(messages, params) of one request, params = the config's sampling + its overrides."""
    if isinstance(request, str):
        return [{"role": "user", "content": request}], dict(sampling)
    if isinstance(request, list):
        return request, dict(sampling)
    if isinstance(request, dict) and "messages" in request:
        return request["messages"], {**sampling, **request.get("params", {})}
    raise TypeError("a teacher request is a prompt, a message list or {'messages': ...}, "
                    f"not {type(request).__name__}")


def request_key(model: str, messages: Messages, params: dict, repeat: int = 0) -> str:
    payload: dict[str, Any] = {"model": model, "messages": messages, "params": params}
    if repeat:
        payload["repeat"] = repeat
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def keyed(requests: list[Request], model: str, sampling: dict) -> list[tuple[str, Messages, dict]]:
    """(key, messages, params) per request, in order, repeats told apart."""
    seen: Counter[str] = Counter()
    out = []
    for request in requests:
        messages, params = normalize(request, sampling)
        base = request_key(model, messages, params)
        out.append((request_key(model, messages, params, seen[base]), messages, params))
        seen[base] += 1
    return out
