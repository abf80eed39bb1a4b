"""The offline KD store: the teacher's top-k log-probabilities, per sample, on disk.

Layout of a store folder::

    meta.json         k, vocabulary size, id bits, temperature, teacher and tokenizer fingerprints
    shard-00000.bin   sample blocks, appended one after another (a new shard every ``shard_bytes``)
    index.jsonl       one line per finished sample: id, shard, offset, positions, prompt length...

A sample block holds, for each of its ``n`` stored positions (the positions whose next
token is a response token: prompt positions are never stored, the loss masks them
anyway), the teacher's ``k`` most likely next tokens and their log-probabilities::

    [n*k float16 log-probs][n*k token ids, bit-packed at ceil(log2(vocab)) bits][pad to even]

Bytes per stored token at k=10 and Qwen's vocabulary of 151,936 (18 bits per id):
10*2 + 10*18/8 = 42.5, plus the index line of about 130 bytes per sample: 0.13 per token for
the 1,000-token chains of bench/kd_store.py, 0.9 for a toy chain of 150; EasyDistill 1.x writes the same
information as JSON text, about 300 bytes per token. The tail mass (1 - sum of the top-k
probabilities) is not stored: it is exact to derive from the log-probs.

Each sample is found by its **sample id** (a hash of its conversation, or the row's own
``id``), never by its row number or an optimizer step: a reader asks ``store[sample_id]``
whatever order, epoch or process it is in. The index line also keeps a hash of the exact
token ids the teacher scored, so a trainer that tokenizes differently fails instead of
training on shifted targets.

Writing is resumable like the teacher cache: a block is written and flushed before its
index line; on reopening, a half-written index line is cut off and each shard is cut back
to the end of its last indexed block (the bytes of a sample whose index line never made it
are dropped, and that sample is simply scored again). A file lock keeps two writers apart.

Our own format, because none we found fits: numpy's ``.npy``/``.npz`` cannot append or
bit-pack, safetensors and Arrow files are written whole (no resumable append), and
Parquet is not memory-mappable per sample. Reading is plain ``numpy.memmap``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout
from typing_extensions import Self

from cookbook.io import atomic_write_json

log = logging.getLogger(__name__)

FORMAT = "cookbook-topk-v1"
META, INDEX = "meta.json", "index.jsonl"


class StoreError(ValueError):
    """A store that cannot be used as asked; the message names the folder and the problem."""


class StoreBusy(RuntimeError):
    pass


def id_bits(vocab_size: int) -> int:
    """Bits per token id: 18 for Qwen's 151,936 (ids < 2**18), 11 for the tiny world's 1,538."""
    return max(1, math.ceil(math.log2(vocab_size)))


def token_ids_sha(ids: Sequence[int]) -> str:
    """A short hash of a token id sequence: the trainer's ids must be the teacher's."""
    return hashlib.sha256(np.asarray(ids, dtype="<u4").tobytes()).hexdigest()[:16]


# ---------------------------------------------------------------- bit packing

def pack_ids(ids: np.ndarray, bits: int) -> bytes:
    """Token ids (< 2**bits) as one little-endian bit stream of ``bits`` bits each."""
    flat = np.ascontiguousarray(ids, dtype=np.uint32).ravel()
    if flat.size and int(flat.max()) >> bits:
        raise StoreError(f"token id {int(flat.max())} does not fit in {bits} bits")
    planes = ((flat[:, None] >> np.arange(bits, dtype=np.uint32)) & 1).astype(np.uint8)
    return np.packbits(planes.ravel(), bitorder="little").tobytes()


def unpack_ids(buf: np.ndarray, count: int, bits: int) -> np.ndarray:
    """Inverse of :func:`pack_ids`: ``count`` ids as int64 (what torch's gather takes).

    Each id starts at bit ``i*bits``; we read the 4 bytes from its first byte as one
    little-endian word, shift and mask (valid while bits + 7 <= 32, i.e. vocabularies up
    to 2**25 tokens). Four gathers and a few vector operations: millions of ids per second.
    """
    if bits > 25:
        raise StoreError(f"{bits}-bit token ids are not supported (vocabulary above 2**25)")
    nbytes = (count * bits + 7) // 8
    padded = np.zeros(nbytes + 4, dtype=np.uint8)
    padded[:nbytes] = buf[:nbytes]
    start = np.arange(count, dtype=np.int64) * bits
    byte, shift = start >> 3, (start & 7).astype(np.uint32)
    word = (padded[byte].astype(np.uint32) | (padded[byte + 1].astype(np.uint32) << 8)
            | (padded[byte + 2].astype(np.uint32) << 16) | (padded[byte + 3].astype(np.uint32) << 24))
    return ((word >> shift) & np.uint32((1 << bits) - 1)).astype(np.int64)


# ---------------------------------------------------------------- metadata and index

@dataclass(frozen=True)
class StoreMeta:
    k: int
    vocab_size: int  # the teacher's logits width: every stored id is below it
    temperature: float  # the log-probs are log_softmax(teacher_logits / temperature)
    teacher: str = ""  # what scored the data (folder or hub id), for the record
    tokenizer_sha: str = ""  # cookbook.kd.vocab.tokenizer_fingerprint of the teacher's tokenizer
    format: str = FORMAT

    @property
    def bits(self) -> int:
        return id_bits(self.vocab_size)


@dataclass(frozen=True)
class Entry:
    id: str
    shard: int
    offset: int  # byte offset of the block in its shard
    n: int  # stored positions (= response tokens)
    prompt_len: int  # tokens before the response; position t predicts token t+1
    length: int  # all tokens (prompt + response)
    ids_sha: str  # token_ids_sha of the prompt+response ids the teacher scored

    def block_bytes(self, k: int, bits: int) -> int:
        return _block_bytes(self.n, k, bits)


def _block_bytes(n: int, k: int, bits: int) -> int:
    size = n * k * 2 + (n * k * bits + 7) // 8
    return size + (size & 1)  # even: the next block's float16 log-probs start aligned


def _shard_name(i: int) -> str:
    return f"shard-{i:05d}.bin"


def _read_index(path: Path, repair: bool) -> list[Entry]:
    if not path.exists():
        return []
    data = path.read_bytes()
    complete = data.rfind(b"\n") + 1  # everything after the last newline is a torn write
    if complete < len(data):
        if not repair:
            data = data[:complete]
        else:
            log.warning("%s: dropping a half-written last line (%d bytes)", path, len(data) - complete)
            with open(path, "r+b") as f:
                f.truncate(complete)
    entries = []
    for line_no, line in enumerate(data[:complete].splitlines(), 1):
        if not line.strip():
            continue
        try:
            entries.append(Entry(**json.loads(line)))
        except (json.JSONDecodeError, TypeError) as e:
            raise StoreError(f"{path}:{line_no}: not a store index line ({e})") from None
    return entries


# ---------------------------------------------------------------- writing

class StoreWriter:
    """Append samples to a store; reopening resumes where a killed writer stopped.

        with StoreWriter(folder, StoreMeta(k=10, vocab_size=..., temperature=1.0)) as w:
            for sample in samples:
                if sample.id not in w:
                    w.add(sample.id, logprobs, ids, prompt_len=..., token_ids=...)
    """

    def __init__(self, folder: str | Path, meta: StoreMeta, shard_bytes: int = 1 << 30, fsync_every: int = 64):
        self.dir = Path(folder)
        self.meta = meta
        self.shard_bytes = shard_bytes
        self.fsync_every = fsync_every
        self._lock = FileLock(str(self.dir) + ".lock")
        self.entries: dict[str, Entry] = {}
        self._shard = 0
        self._file = None
        self._index = None
        self._unsynced = 0

    def __contains__(self, sample_id: str) -> bool:
        return sample_id in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def open(self) -> StoreWriter:
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise StoreBusy(f"{self.dir} is being written by another process (lock {self._lock.lock_file})") from None
        try:
            self._open_meta()
            self._recover()
        except BaseException:
            self._lock.release()
            raise
        return self

    def _open_meta(self) -> None:
        path = self.dir / META
        if path.exists():
            old = StoreMeta(**json.loads(path.read_text()))
            if old != self.meta:
                raise StoreError(f"{self.dir}: the store was written with {asdict(old)}, not {asdict(self.meta)}; "
                                 f"write to a new folder (or delete this one) to change k, teacher or temperature")
        else:
            atomic_write_json(path, asdict(self.meta))

    def _recover(self) -> None:
        entries = _read_index(self.dir / INDEX, repair=True)
        ends: dict[int, int] = {}
        k, bits = self.meta.k, self.meta.bits
        for e in entries:
            self.entries[e.id] = e
            ends[e.shard] = max(ends.get(e.shard, 0), e.offset + e.block_bytes(k, bits))
        self._shard = max(ends, default=0)
        for shard in sorted(p for p in self.dir.glob("shard-*.bin")):
            i = int(shard.stem.split("-")[1])
            end = ends.get(i, 0)
            if shard.stat().st_size > end:  # bytes of a block whose index line was never written
                log.warning("%s: cutting %d unindexed bytes", shard, shard.stat().st_size - end)
                with open(shard, "r+b") as f:
                    f.truncate(end)
        # Long-lived handles, closed by close() / __exit__: a context manager per block would reopen them each time.
        self._file = open(self.dir / _shard_name(self._shard), "ab")  # noqa: SIM115
        self._index = open(self.dir / INDEX, "ab")  # noqa: SIM115

    def add(self, sample_id: str, logprobs: np.ndarray, ids: np.ndarray, *, prompt_len: int,
            token_ids: Sequence[int]) -> Entry:
        """Store one sample: ``logprobs`` and ``ids`` are [n, k] for its n response positions."""
        if self._file is None:
            raise StoreError("open the writer first (use it as a context manager)")
        logprobs, ids = np.asarray(logprobs), np.asarray(ids)
        n = len(token_ids) - prompt_len
        if logprobs.shape != (n, self.meta.k) or ids.shape != (n, self.meta.k):
            raise StoreError(f"sample {sample_id}: expected [{n}, {self.meta.k}] log-probs and ids for "
                             f"{n} response tokens, got {logprobs.shape} and {ids.shape}")
        if sample_id in self.entries:
            return self.entries[sample_id]
        block = logprobs.astype("<f2").tobytes() + pack_ids(ids, self.meta.bits)
        block += b"\0" * (len(block) & 1)
        if self._file.tell() and self._file.tell() + len(block) > self.shard_bytes:
            self._file.close()
            self._shard += 1
            self._file = open(self.dir / _shard_name(self._shard), "ab")  # noqa: SIM115
        entry = Entry(sample_id, self._shard, self._file.tell(), n, prompt_len, len(token_ids),
                      token_ids_sha(token_ids))
        self._file.write(block)
        self._file.flush()  # the block is on its way to disk before the index names it
        self._index.write((json.dumps(asdict(entry)) + "\n").encode())
        self._index.flush()
        self.entries[sample_id] = entry
        self._unsynced += 1
        if self._unsynced >= self.fsync_every:
            self.sync()
        return entry

    def sync(self) -> None:
        for f in (self._file, self._index):
            if f is not None:
                os.fsync(f.fileno())
        self._unsynced = 0

    def close(self) -> None:
        if self._file is not None:
            self.sync()
            self._file.close()
            self._index.close()
            self._file = self._index = None
        if self._lock.is_locked:
            self._lock.release()

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------- reading

class TopKStore:
    """Read-only, memory-mapped view of a store: ``store[sample_id] -> (ids, logprobs)``."""

    def __init__(self, folder: str | Path):
        self.dir = Path(folder)
        path = self.dir / META
        if not path.exists():
            raise StoreError(f"{self.dir}: not a KD store (no {META}); run the teacher pass first")
        self.meta = StoreMeta(**json.loads(path.read_text()))
        if self.meta.format != FORMAT:
            raise StoreError(f"{self.dir}: format {self.meta.format!r}, this cookbook reads {FORMAT!r}")
        self.entries = {e.id: e for e in _read_index(self.dir / INDEX, repair=False)}
        self._maps: dict[int, np.memmap] = {}

    @property
    def k(self) -> int:
        return self.meta.k

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, sample_id: str) -> bool:
        return sample_id in self.entries

    def entry(self, sample_id: str) -> Entry:
        try:
            return self.entries[sample_id]
        except KeyError:
            raise StoreError(f"{self.dir}: no teacher targets for sample {sample_id!r}; "
                             f"the teacher pass did not score this row (run it again on the same data)") from None

    def _map(self, shard: int) -> np.memmap:
        if shard not in self._maps:
            self._maps[shard] = np.memmap(self.dir / _shard_name(shard), dtype=np.uint8, mode="r")
        return self._maps[shard]

    def __getitem__(self, sample_id: str) -> tuple[np.ndarray, np.ndarray]:
        """([n, k] int64 token ids, [n, k] float32 log-probs) of one sample's response positions."""
        e = self.entry(sample_id)
        k, bits = self.meta.k, self.meta.bits
        raw = self._map(e.shard)[e.offset : e.offset + e.block_bytes(k, bits)]
        count = e.n * k
        logprobs = np.frombuffer(raw, dtype="<f2", count=count).astype(np.float32).reshape(e.n, k)
        ids = unpack_ids(raw[count * 2 :], count, bits).reshape(e.n, k)
        return ids, logprobs

    def nbytes(self) -> int:
        """Bytes on disk: shards, index and metadata."""
        return sum(p.stat().st_size for p in self.dir.iterdir() if p.is_file())

    def tokens(self) -> int:
        return sum(e.n for e in self.entries.values())

    def iter_items(self, ids: Iterable[str] | None = None):
        for sample_id in ids if ids is not None else self.entries:
            yield sample_id, self[sample_id]
