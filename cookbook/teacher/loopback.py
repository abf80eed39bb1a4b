"""An aiohttp app served on loopback from a background thread, so that the process that
starts it goes on (a test, the rehearsal runner): the tests' fake OpenAI server and the
rehearsal's look-alike of DeepSeek-R1's API both run this way."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from aiohttp import web

from cookbook.procs import HOST


def openai_app(model: str, chat) -> web.Application:
    """The two routes of an OpenAI-compatible chat server: /v1/models naming ``model``, and
    /v1/chat/completions answered by the coroutine ``chat(request)``."""

    async def models(request):
        return web.json_response({"object": "list", "data": [{"id": model, "object": "model"}]})

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat)
    return app


class AppThread:
    def __init__(self, make_app: Callable[[], web.Application], **runner_kwargs):
        self.make_app = make_app
        self.runner_kwargs = {"access_log": None, "shutdown_timeout": 0.5, **runner_kwargs}
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self, port: int = 0, timeout: float = 10.0) -> int:
        """Serve on ``port`` (0: a free one); returns the port once it listens."""
        ready = threading.Event()

        def serve():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            runner = web.AppRunner(self.make_app(), **self.runner_kwargs)
            self._loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, HOST, port)
            self._loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError(f"the loopback server did not start within {timeout:.0f} s")
        return self.port

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
