"""One question set split over several machines (or several local servers): shard i of n.

    results = generate_shard(requests, config, cache, index=i, count=n)   # on machine i
    merge_shards(requests, config, cache, count=n)                         # anywhere, afterwards

A request's shard is a hash of what it asks (model, messages, sampling), so all samples of
one prompt land on one machine and keep the keys they would have in one run: the merged
cache is the cache a single machine would have written, and ``generate(requests, config,
cache=cache)`` then answers every row from it without sending anything. Each shard writes
its own file (``<cache>.shard-<i>-of-<n>.jsonl``), resumable like any cache: a shard killed
half way is started again and sends only what its file lacks. The merge fails, naming the
rows and their shards, when any request has no answer; none is counted twice (one key each).
"""

from __future__ import annotations

from pathlib import Path

from cookbook.teacher.cache import ResultCache, load_results
from cookbook.teacher.client import generate
from cookbook.teacher.config import TeacherConfig
from cookbook.teacher.requests import Request, Result, keyed, request_key


class ShardsIncomplete(RuntimeError):
    """Some requests have no answer in any shard's cache."""


def shard_of(model: str, messages, params: dict, count: int) -> int:
    return int(request_key(model, messages, params)[:16], 16) % count


def shard_positions(requests: list[Request], config: TeacherConfig, index: int, count: int) -> list[int]:
    """The positions of ``requests`` that shard ``index`` of ``count`` asks."""
    if not 0 <= index < count:
        raise ValueError(f"shard {index} of {count}: the index runs from 0 to {count - 1}")
    return [i for i, (_, messages, params) in enumerate(keyed(requests, config.model, config.sampling))
            if shard_of(config.model, messages, params, count) == index]


def shard_cache(cache: str | Path, index: int, count: int) -> Path:
    cache = Path(cache)
    return cache.with_name(f"{cache.stem}.shard-{index}-of-{count}{cache.suffix}")


def generate_shard(requests: list[Request], config: TeacherConfig, cache: str | Path, index: int, count: int,
                   progress: bool = True) -> list[Result]:
    """This shard's answers (in the order of its positions), cached in its own file."""
    mine = [requests[i] for i in shard_positions(requests, config, index, count)]
    return generate(mine, config, cache=shard_cache(cache, index, count), progress=progress)


def merge_shards(requests: list[Request], config: TeacherConfig, cache: str | Path, count: int) -> Path:
    """Every shard's answers appended to ``cache`` (the one-machine cache); fails naming what is missing."""
    found: dict[str, Result] = {}
    for index in range(count):
        for result in load_results(shard_cache(cache, index, count)):
            if result.ok or result.key not in found:
                found[result.key] = result
    keys = [key for key, _, _ in keyed(requests, config.model, config.sampling)]
    missing = [i for i, key in enumerate(keys) if not (key in found and found[key].ok)]
    if missing:
        shards = sorted({shard_of(config.model, *keyed([requests[i]], config.model, config.sampling)[0][1:], count)
                         for i in missing})
        raise ShardsIncomplete(f"{len(missing)} of {len(requests)} requests have no answer (rows "
                               f"{', '.join(map(str, missing[:10]))}{' ...' if len(missing) > 10 else ''}): "
                               f"run shard(s) {', '.join(map(str, shards))} of {count} again")
    with ResultCache(cache).open() as merged:
        for key in keys:
            if merged.answered(key) is None:
                merged.append(found[key])
    return Path(cache)
