"""The top-k store: bit packing, round trips by sample id, resumable writing, size."""

import json

import numpy as np
import pytest

from cookbook.kd.store import (
    StoreError,
    StoreMeta,
    StoreWriter,
    TopKStore,
    _block_bytes,
    id_bits,
    pack_ids,
    unpack_ids,
)


@pytest.mark.parametrize("vocab", [2, 637, 151_936, 2**25])
def test_bit_packing_round_trips(vocab):
    bits = id_bits(vocab)
    ids = np.random.default_rng(0).integers(0, vocab, size=1001, dtype=np.uint32)
    ids[:2] = [0, vocab - 1]
    packed = np.frombuffer(pack_ids(ids, bits), dtype=np.uint8)
    assert len(packed) == (1001 * bits + 7) // 8
    assert np.array_equal(unpack_ids(packed, 1001, bits), ids.astype(np.int64))


def test_qwen_vocabulary_at_k10_costs_under_43_bytes_per_token():
    assert id_bits(151_936) == 18
    assert _block_bytes(1000, 10, 18) / 1000 == 42.5


def _sample(rng, n, k, vocab, prompt=5):
    lp = np.sort(np.log(rng.dirichlet(np.ones(k + 3))[:k]))[::-1].reshape(1, k).repeat(n, 0)
    ids = np.stack([rng.choice(vocab, k, replace=False) for _ in range(n)]).astype(np.uint32)
    tokens = rng.integers(0, vocab, prompt + n).tolist()
    return lp.astype(np.float32), ids, prompt, tokens


def _meta(k=4, vocab=1000):
    return StoreMeta(k=k, vocab_size=vocab, temperature=1.0, teacher="t", tokenizer_sha="abc")


def test_samples_come_back_by_id_in_any_order_across_shards(tmp_path):
    rng = np.random.default_rng(1)
    data = {f"s{i}": _sample(rng, int(rng.integers(1, 40)), 4, 1000) for i in range(30)}
    with StoreWriter(tmp_path / "st", _meta(), shard_bytes=600) as w:
        for sid, (lp, ids, p, toks) in data.items():
            w.add(sid, lp, ids, prompt_len=p, token_ids=toks)
    store = TopKStore(tmp_path / "st")
    assert len(list((tmp_path / "st").glob("shard-*.bin"))) > 3
    for sid in reversed(list(data)):
        lp, ids, _, _ = data[sid]
        got_ids, got_lp = store[sid]
        assert np.array_equal(got_ids, ids) and got_ids.dtype == np.int64
        np.testing.assert_allclose(got_lp, lp, rtol=1e-3, atol=1e-3)  # float16
    with pytest.raises(StoreError, match="no teacher targets for sample 'nope'"):
        store["nope"]


def test_a_killed_writer_resumes_and_drops_the_torn_sample(tmp_path):
    rng = np.random.default_rng(2)
    data = {f"s{i}": _sample(rng, 7 + i, 4, 1000) for i in range(6)}
    folder = tmp_path / "st"
    with StoreWriter(folder, _meta()) as w:
        for sid in ["s0", "s1", "s2"]:
            lp, ids, p, toks = data[sid]
            w.add(sid, lp, ids, prompt_len=p, token_ids=toks)
    # the crash: a block written without its index line, and half an index line
    with open(folder / "shard-00000.bin", "ab") as f:
        f.write(b"\x01" * 77)
    with open(folder / "index.jsonl", "ab") as f:
        f.write(b'{"id": "s3", "sha')
    with StoreWriter(folder, _meta()) as w:
        assert set(w.entries) == {"s0", "s1", "s2"}  # resumes: these are not scored again
        for sid in ["s3", "s4", "s5"]:
            lp, ids, p, toks = data[sid]
            w.add(sid, lp, ids, prompt_len=p, token_ids=toks)
    store = TopKStore(folder)
    assert len(store) == 6
    for sid, (lp, ids, _, _) in data.items():
        assert np.array_equal(store[sid][0], ids)
    lines = (folder / "index.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [f"s{i}" for i in range(6)]


def test_reopening_with_other_settings_fails(tmp_path):
    with StoreWriter(tmp_path / "st", _meta()):
        pass
    with pytest.raises(StoreError, match="write to a new folder"):
        StoreWriter(tmp_path / "st", _meta(k=8)).open()


def test_shapes_and_ids_are_checked(tmp_path):
    with StoreWriter(tmp_path / "st", _meta(vocab=16)) as w:
        with pytest.raises(StoreError, match="expected"):
            w.add("a", np.zeros((3, 4)), np.zeros((3, 4)), prompt_len=2, token_ids=[1, 2, 3, 4])
        with pytest.raises(StoreError, match="does not fit"):
            w.add("a", np.zeros((2, 4)), np.full((2, 4), 16), prompt_len=2, token_ids=[1, 2, 3, 4])
