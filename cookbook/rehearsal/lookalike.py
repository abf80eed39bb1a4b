"""A loopback look-alike of DeepSeek-R1's hosted API, for rehearsals. It is not a model.

It answers the way the API does, so the client's real code paths run:

* the reasoning streams in ``reasoning_content`` beside ``content`` (and sits there in a
  whole reply); ``usage`` carries ``completion_tokens_details.reasoning_tokens``;
* more than ``max_in_flight`` open requests get a 429 with ``Retry-After``, as an API's
  quota does under load; a request without a bearer token gets a 401.

What it says comes from the tiny world, since a rehearsal has no model of R1's size:

* a question of the tiny world (any split, found inside the user's message) gets the
  toy teacher's way of reasoning, its column-by-column chain, then ``\\boxed{answer}``;
  one request in eight (by a hash of the messages) gets a wrong answer, so that
  verification has something to reject;
* a judge prompt of cookbook.data.prompts gets "Score: N". Correctness is checked against
  the toy truth; RV and CD levels are a hash of the chain, spread over 2-6 and 3-7 so that
  part of any band is kept: they exercise selection, they do not judge anything;
* anything else (an IFEval prompt) gets a one-line reply that says what this server is.

Token counts are words, not tokens. Nothing here may be read as DeepSeek-R1's behaviour.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time

from aiohttp import web

from cookbook.data.answers import last_boxed
from cookbook.data.prompts import load_template
from cookbook.teacher.loopback import AppThread, openai_app

MODEL_NOTE = "a loopback look-alike of DeepSeek-R1's API (cookbook.rehearsal.lookalike), not a model"
_JUDGES = {"judge_reasoning_verbosity": (2, 6), "judge_cognitive_difficulty": (3, 7),
           "judge_logical_correctness": None}
_SECTION = re.compile(r"Problem:\n(?P<question>.*?)\n\nWorked solution:\n(?P<chain>.*?)(?:\n\nFinal answer: "
                      r"(?P<answer>.*?))?\n\n", re.S)


def _hash(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:8], "big")


class R1LookAlike:
    def __init__(self, problems, model: str = "deepseek-ai/DeepSeek-R1", max_in_flight: int = 4,
                 retry_after: float = 0.2):
        self.problems = {p.question: p for p in problems}
        self.model = model
        self.max_in_flight = max_in_flight
        self.retry_after = retry_after
        self.judges = {load_template(name).system: name for name in _JUDGES}
        self.counts = {"requests": 0, "answered": 0, "rate_limited": 0, "unauthorized": 0}
        self._in_flight = 0
        self.port: int | None = None

    # ---- what it says -------------------------------------------------------------------

    def find_problem(self, text: str):
        return next((p for q, p in self.problems.items() if q in text), None)

    def reply(self, messages: list[dict]) -> tuple[str, str]:
        """(reasoning, content) for a conversation."""
        system = next((m["content"] for m in messages if m["role"] == "system"), "")
        user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        if system in self.judges:
            return "", f"A look-alike's score, not a judgement.\nScore: {self._judge(self.judges[system], user)}"
        problem = self.find_problem(user)
        if problem is None:
            return "", f"This is {MODEL_NOTE}; it knows only the tiny world's problems."
        answer = problem.answer + 1 if _hash(json.dumps(messages)) % 8 == 0 else problem.answer
        return problem.digit_cot, f"The answer is \\boxed{{{answer}}}."

    def _judge(self, name: str, user: str) -> int:
        found = _SECTION.search(user + "\n\n")
        question, chain, answer = (found.group("question", "chain", "answer") if found else ("", user, None))
        if _JUDGES[name] is None:
            problem = self.find_problem(question)
            given = last_boxed(answer or chain) or (answer or "").strip()
            return int(problem is not None and given == str(problem.answer))
        low, high = _JUDGES[name]
        return low + _hash(name, chain) % (high - low + 1)

    # ---- the API ------------------------------------------------------------------------

    def app(self) -> web.Application:
        return openai_app(self.model, self._chat)

    async def _chat(self, request: web.Request):
        self.counts["requests"] += 1
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            self.counts["unauthorized"] += 1
            return web.json_response({"error": {"message": "missing API key"}}, status=401)
        if self._in_flight >= self.max_in_flight:
            self.counts["rate_limited"] += 1
            return web.json_response({"error": {"message": "rate limit reached (look-alike)"}}, status=429,
                                     headers={"Retry-After": str(self.retry_after)})
        self._in_flight += 1
        try:
            body = await request.json()
            reasoning, content = self.reply(body["messages"])
            await asyncio.sleep(0.01)  # an answer takes a moment: requests overlap, as on a real API
            n_reason, n_content = len(reasoning.split()), len(content.split())
            prompt_words = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
            usage = {"prompt_tokens": prompt_words, "completion_tokens": n_reason + n_content,
                     "total_tokens": prompt_words + n_reason + n_content,
                     "completion_tokens_details": {"reasoning_tokens": n_reason}}
            self.counts["answered"] += 1
            if body.get("stream"):
                return await self._stream(request, body, reasoning, content, usage)
            message = {"role": "assistant", "content": content, "reasoning_content": reasoning}
            return web.json_response({"id": "lookalike", "object": "chat.completion", "created": int(time.time()),
                                      "model": self.model, "usage": usage,
                                      "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})
        finally:
            self._in_flight -= 1

    async def _stream(self, request, body, reasoning: str, content: str, usage: dict):
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)

        async def send(choices, **extra):
            obj = {"id": "lookalike", "object": "chat.completion.chunk", "created": int(time.time()),
                   "model": self.model, "choices": choices, **extra}
            await resp.write(f"data: {json.dumps(obj)}\n\n".encode())

        await send([{"index": 0, "delta": {"role": "assistant", "content": None, "reasoning_content": ""},
                     "finish_reason": None}])
        for field, text in (("reasoning_content", reasoning), ("content", content)):
            for piece in re.split(r"(?<=\s)", text):
                if piece:
                    await send([{"index": 0, "delta": {field: piece}, "finish_reason": None}])
        await send([{"index": 0, "delta": {}, "finish_reason": "stop"}])
        if (body.get("stream_options") or {}).get("include_usage"):
            await send([], usage=usage)
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    # ---- in a background thread ---------------------------------------------------------

    def start(self, port: int = 0) -> "R1LookAlike":
        self._server = AppThread(self.app)
        self.port = self._server.start(port)
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"
