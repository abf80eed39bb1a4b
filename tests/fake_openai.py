"""A fake OpenAI-compatible chat server on loopback that can misbehave on request.

The tests (and bench/teacher_throughput.py) use it instead of a real teacher. Faults are
asked for inside the user message, so one batch of requests can mix them:

    "q7 [fault:429x2]"       the first 2 attempts answer 429 with Retry-After, then normal
    "q7 [fault:500x1]"       one 500, then normal
    "q7 [fault:timeoutx1]"   one attempt sleeps past any client timeout, then normal
    "q7 [fault:badjsonx1]"   one 200 with a body that is not JSON
    "q7 [fault:truncatedx1]" one stream cut off mid-message (connection dropped)
    "q7 [fault:nofinishx1]"  one stream that ends cleanly but without finish_reason
    "q7 [fault:500x99]"      always 500: the row must end as failed
    "q7 [fault:400x1]"       a permanent client error: failed at once, not retried
    "q7 [style:field]"       reasoning in `reasoning_content` (DeepSeek-R1 API style)
    "q7 [style:vllm]"        reasoning in `reasoning` (recent vLLM's reasoning parsers)
    "q7 [style:think]"       reasoning inside <think>...</think> in content (default)

Every request is logged (prompt, attempt number, stream flag, whether the bearer token
matched ``expected_key``) in memory and optionally to a JSON-lines file; the key itself is
never logged. Run alone: ``python tests/fake_openai.py --port 8123 --delay 0.05``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from collections import Counter

from aiohttp import web

from cookbook.teacher.loopback import AppThread, openai_app

_FAULT = re.compile(r"\[fault:(\w+?)x(\d+)\]")
_STYLE = re.compile(r"\[style:(\w+)\]")


class FakeOpenAI:
    def __init__(self, delay: float = 0.0, expected_key: str | None = None, log_path=None,
                 hang_seconds: float = 30.0, retry_after: str = "0", model: str = "fake-teacher"):
        self.delay = delay  # seconds each answer takes, like a real model's latency
        self.expected_key = expected_key
        self.log_path = log_path
        self.hang_seconds = hang_seconds
        self.retry_after = retry_after
        self.model = model
        self.requests: list[dict] = []
        self.attempts: Counter[str] = Counter()
        self.port: int | None = None
        self._server: AppThread | None = None

    # ---- the app ---------------------------------------------------------------------

    def app(self) -> web.Application:
        return openai_app(self.model, self._chat)

    async def _chat(self, request: web.Request):
        body = await request.json()
        prompt = body["messages"][-1]["content"]
        self.attempts[prompt] += 1
        attempt = self.attempts[prompt]
        auth = request.headers.get("Authorization", "")
        entry = {"prompt": prompt, "attempt": attempt, "stream": bool(body.get("stream")),
                 "auth_ok": self.expected_key is None or auth == f"Bearer {self.expected_key}",
                 "time": time.time()}
        self.requests.append(entry)
        if self.log_path:
            with open(self.log_path, "a") as f:
                f.write(json.dumps(entry) + "\n")
                f.flush()

        fault = _FAULT.search(prompt)
        kind = fault.group(1) if fault and attempt <= int(fault.group(2)) else None
        if self.delay:
            await asyncio.sleep(self.delay)
        if kind == "429":
            return web.json_response({"error": {"message": "slow down"}}, status=429,
                                     headers={"Retry-After": self.retry_after})
        if kind in ("500", "400"):
            return web.json_response({"error": {"message": f"injected {kind}"}}, status=int(kind))
        if kind == "timeout":
            await asyncio.sleep(self.hang_seconds)
        if kind == "badjson" and body.get("stream"):
            return web.Response(text='data: {"id": "x", "choices": [\n\n', content_type="text/event-stream")
        if kind == "badjson":
            return web.Response(text='{"id": "x", "choices": [', content_type="application/json")

        style = _STYLE.search(prompt)
        reasoning = f"thinking about {prompt[:20]}"
        answer = f"The answer is \\boxed{{{len(prompt)}}}."
        field = {"field": "reasoning_content", "vllm": "reasoning"}.get(style.group(1) if style else "")
        if field:
            content, reasoning_field = answer, reasoning
        else:
            content, reasoning_field = f"<think>\n{reasoning}\n</think>\n\n{answer}", None
        usage = {"prompt_tokens": len(prompt.split()), "completion_tokens": 7, "total_tokens": len(prompt.split()) + 7}
        if body.get("stream"):
            return await self._stream(request, body, content, field, reasoning_field, usage, kind)
        message = {"role": "assistant", "content": content}
        if reasoning_field:
            message[field] = reasoning_field
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        if body.get("logprobs"):
            choice["logprobs"] = _logprobs(re.split(r"(?<= )", content), body.get("top_logprobs") or 0)
        data = json.dumps({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": self.model,
            "choices": [choice], "usage": usage,
        }).encode()
        if kind == "truncated":  # promise the whole body, send half, hang up
            resp = web.StreamResponse(headers={"Content-Type": "application/json"})
            resp.content_length = len(data)
            await resp.prepare(request)
            await resp.write(data[: len(data) // 2])
            request.transport.close()
            return resp
        return web.Response(body=data, content_type="application/json")

    async def _stream(self, request, body, content, field, reasoning_field, usage, kind):
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)

        def chunk(delta=None, finish=None, usage_=None):
            choices = [] if delta is None and finish is None else [
                {"index": 0, "delta": delta or {}, "finish_reason": finish}]
            if choices and body.get("logprobs") and (delta or {}).get("content"):
                choices[0]["logprobs"] = _logprobs([delta["content"]], body.get("top_logprobs") or 0)
            obj = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                   "model": self.model, "choices": choices}
            if usage_:
                obj["usage"] = usage_
            return f"data: {json.dumps(obj)}\n\n".encode()

        pieces = [{"role": "assistant", "content": ""}]
        if reasoning_field:
            pieces += [{field: w} for w in re.split(r"(?<= )", reasoning_field)]
        pieces += [{"content": w} for w in re.split(r"(?<= )", content)]
        for i, delta in enumerate(pieces):
            await resp.write(chunk(delta))
            if kind == "truncated" and i == 2:
                request.transport.close()  # the peer vanishes mid-stream
                return resp
        if kind == "nofinish":
            await resp.write_eof()  # a clean end, but the message is incomplete
            return resp
        await resp.write(chunk(finish="stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            await resp.write(chunk(usage_=usage))
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    # ---- running in a background thread (tests) ---------------------------------------

    def start(self, port: int = 0) -> "FakeOpenAI":
        # handler_cancellation: a handler stops when its client hangs up (a timed-out attempt)
        self._server = AppThread(self.app, handler_cancellation=True)
        self.port = self._server.start(port)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _logprobs(tokens: list[str], top: int) -> dict:
    """OpenAI's logprobs shape, byte lists included (the client drops them)."""
    def entry(token, logprob):
        return {"token": token, "logprob": logprob, "bytes": list(token.encode())}
    return {"content": [entry(t, -0.5) | {"top_logprobs": [entry(t, -0.5 - k) for k in range(top)]}
                        for t in tokens if t]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--log", default=None, help="JSON-lines request log")
    args = parser.parse_args()
    web.run_app(FakeOpenAI(delay=args.delay, log_path=args.log).app(), host="127.0.0.1",
                port=args.port, access_log=None, print=None, handler_cancellation=True)


if __name__ == "__main__":
    main()
