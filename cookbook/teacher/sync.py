"""Run a coroutine to completion from plain (notebook) code.

Jupyter and papermill already run an asyncio loop in the kernel's main thread, so
``asyncio.run`` fails there ("cannot be called from a running event loop"). Instead of
patching the loop (nest_asyncio), the coroutine gets its own loop in a worker thread and
the cell waits for it. Interrupting the kernel cancels the coroutine cleanly (the teacher
cache is closed and synced), then re-raises the KeyboardInterrupt.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)  # no loop here (a script, pytest): the simple way
    return _run_in_thread(coro)


def _run_in_thread(coro: Coroutine[Any, Any, T]) -> T:
    loop = asyncio.new_event_loop()
    task = loop.create_task(coro)
    outcome: dict[str, Any] = {}
    finished = threading.Event()  # not Thread.join: on Python 3.11 a join interrupted by
    # Ctrl-C can mark a running thread as stopped, and a second join then returns at once.

    def target():
        asyncio.set_event_loop(loop)
        try:
            outcome["value"] = loop.run_until_complete(task)
        except BaseException as e:  # handed to the caller's thread below
            outcome["error"] = e
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            finished.set()

    threading.Thread(target=target, name="teacher-loop", daemon=True).start()
    try:
        while not finished.wait(0.2):  # short waits keep the main thread responsive to interrupts
            pass
    except KeyboardInterrupt:
        loop.call_soon_threadsafe(task.cancel)
        finished.wait()  # the run closes its cache and connections before we give up
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
