"""One question set over three "machines": each shard its own cache, one killed and restarted,
then a merge with no row lost or counted twice (issue 14, item 3)."""

from __future__ import annotations

import pytest

from cookbook.teacher import generate
from cookbook.teacher.config import TeacherConfig
from cookbook.teacher.shards import ShardsIncomplete, generate_shard, merge_shards, shard_cache, shard_positions
from tests.fake_openai import FakeOpenAI


@pytest.fixture
def server():
    with FakeOpenAI() as fake:
        yield fake


def requests_with_samples(n=30, samples=2):
    return [[{"role": "user", "content": f"question {i}"}] for i in range(n) for _ in range(samples)]


def test_three_shards_one_killed_and_restarted_merge_to_the_one_machine_cache(server, tmp_path):
    config = TeacherConfig(base_url=server.base_url, model="fake-teacher", sampling={"temperature": 0.6})
    requests, cache = requests_with_samples(), tmp_path / "cache.jsonl"
    positions = [shard_positions(requests, config, i, 3) for i in range(3)]
    assert sorted(p for ps in positions for p in ps) == list(range(len(requests)))  # a partition
    assert all(ps for ps in positions)
    for ps in positions:  # both samples of a prompt on one machine: keys as in one run
        assert all((i ^ 1) in ps for i in ps)
    for i in range(3):
        generate_shard(requests, config, cache, i, 3, progress=False)
    killed = shard_cache(cache, 1, 3)  # as a kill leaves it: half its rows, a torn last line
    lines = killed.read_text().splitlines(keepends=True)
    killed.write_text("".join(lines[: len(lines) // 2]) + lines[len(lines) // 2][:20])
    with pytest.raises(ShardsIncomplete, match="run shard\\(s\\) 1 of 3 again"):
        merge_shards(requests, config, cache, 3)
    sent = len(server.requests)
    generate_shard(requests, config, cache, 1, 3, progress=False)  # restarted: sends only what it lacks
    assert len(server.requests) - sent == len(positions[1]) - len(lines) // 2
    merge_shards(requests, config, cache, 3)
    sent = len(server.requests)
    results = generate(requests, config, cache=cache, progress=False)  # the merged cache answers all
    assert len(server.requests) == sent and all(r.cached and r.ok for r in results)
    assert len({r.key for r in results}) == len(requests)  # none counted twice
    assert len(cache.read_text().splitlines()) == len(requests)


def test_a_shard_index_out_of_range_is_refused(server):
    config = TeacherConfig(base_url=server.base_url, model="fake-teacher")
    with pytest.raises(ValueError, match="from 0 to 2"):
        shard_positions(["q"], config, 3, 3)
