"""The teacher cache: one JSON line per result, appended as results arrive.

Why this survives a killed run:
  * each row is flushed as soon as it is written, so a killed process (SIGKILL, kernel
    restart) loses at most the line it was writing; against a machine crash, rows are
    also fsynced every 32 rows or every second (in a helper thread: an fsync takes
    milliseconds, which the event loop should spend on requests) and at close;
  * on open, a half-written last line is cut off (and its request is simply asked again);
  * a file lock keeps two processes from appending to the same cache at once.

Both answered and failed rows are written. On reload an answered row is final (it is
never requested again); a failed row is kept for the record but its request is sent
again by the next run, whose outcome is appended after it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from filelock import FileLock, Timeout

from cookbook.teacher.requests import Result

log = logging.getLogger(__name__)


class CacheBusy(RuntimeError):
    pass


class ResultCache:
    def __init__(self, path: str | Path, fsync_every: int = 32, fsync_seconds: float = 1.0):
        self.path = Path(path)
        self.fsync_every = fsync_every
        self.fsync_seconds = fsync_seconds
        self.results: dict[str, Result] = {}  # key -> best known result (answered beats failed)
        self._lock = FileLock(str(self.path) + ".lock")
        self._file = None
        self._syncer: ThreadPoolExecutor | None = None
        self._unsynced = 0
        self._last_sync = time.monotonic()

    # ---- open / load -------------------------------------------------------------------

    def open(self) -> "ResultCache":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise CacheBusy(f"{self.path} is being written by another process (lock {self._lock.lock_file})") from None
        try:
            self._load()
            self._file = open(self.path, "a", encoding="utf-8")
            self._syncer = ThreadPoolExecutor(1, thread_name_prefix="teacher-cache-fsync")
        except BaseException:
            self._lock.release()
            raise
        return self

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        complete = data.rfind(b"\n") + 1  # everything after the last newline is a torn write
        if complete < len(data):
            log.warning("%s: dropping a half-written last line (%d bytes)", self.path, len(data) - complete)
            with open(self.path, "r+b") as f:
                f.truncate(complete)
        for result in _parse(data[:complete], self.path):
            self._remember(result)

    def _remember(self, result: Result) -> None:
        known = self.results.get(result.key)
        if known is None or result.ok or not known.ok:
            self.results[result.key] = result

    # ---- use ---------------------------------------------------------------------------

    def answered(self, key: str) -> Result | None:
        """The answered result for a key, or None (never answered, or failed so far)."""
        result = self.results.get(key)
        return result if result is not None and result.ok else None

    def append(self, result: Result) -> None:
        self._file.write(json.dumps(result.to_row(), ensure_ascii=False) + "\n")
        self._file.flush()  # into the OS now: a killed process keeps the row
        self._remember(result)
        self._unsynced += 1
        if self._unsynced >= self.fsync_every or time.monotonic() - self._last_sync >= self.fsync_seconds:
            self.sync()

    def sync(self) -> None:
        """Ask for an fsync of what is written so far (done in the helper thread)."""
        if self._file and self._unsynced:
            self._syncer.submit(os.fsync, self._file.fileno())
            self._unsynced = 0
        self._last_sync = time.monotonic()

    def close(self) -> None:
        if self._file:
            self._syncer.shutdown(wait=True)  # pending fsyncs finish before the file closes
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
            self._lock.release()

    def __enter__(self) -> "ResultCache":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()


def _parse(data: bytes, path: Path) -> list[Result]:
    results = []
    for line_no, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            results.append(Result.from_row(json.loads(line)))
        except (ValueError, TypeError) as e:  # only a torn write, which open() cuts off first
            log.warning("%s:%d: unreadable row skipped (%s)", path, line_no, e)
    return results


def load_results(path: str | Path) -> list[Result]:
    """The best result per key in a cache file, read-only (no lock, no repair)."""
    cache = ResultCache(path)
    if cache.path.exists():
        data = cache.path.read_bytes()
        for result in _parse(data[: data.rfind(b"\n") + 1], cache.path):
            cache._remember(result)
    return list(cache.results.values())
