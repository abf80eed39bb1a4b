"""The GPU memory estimate against published measurements (cookbook.memory's docstring lists them)."""

import json

import pytest

from cookbook.memory import (
    CHECKS,
    KNOWN,
    TOLERANCE,
    Shape,
    Training,
    Zero,
    estimate_training,
    estimate_vllm,
    shape_of,
    zero_of,
    zero_paper_model_states,
)


def test_zero_papers_figure_1_model_states_of_a_7_5b_model_on_64_gpus():
    """Rajbhandari et al. 2019, Figure 1: 120 GB, 31.4 GB, 16.6 GB and 1.9 GB per GPU."""
    got = zero_paper_model_states(7.5e9, 64)
    for stage, published in {"baseline": 120, "zero1": 31.4, "zero2": 16.6, "zero3": 1.9}.items():
        assert got[stage] == pytest.approx(published, rel=0.02), stage


@pytest.mark.parametrize("check", CHECKS, ids=[c.what for c in CHECKS])
def test_ms_swift_published_peak_memory_within_tolerance(check):
    estimate = estimate_training(check.estimate).total_gib
    assert abs(estimate / check.published_gib - 1) <= TOLERANCE, (check.source, estimate, check.published_gib)


def test_known_shapes_count_the_published_parameters():
    """The model cards' sizes: 1.54B, 7.62B, 8.19B and 32.8B parameters."""
    published = {"Qwen/Qwen2.5-1.5B-Instruct": 1.54e9, "Qwen/Qwen2.5-7B-Instruct": 7.62e9,
                 "Qwen/Qwen3-8B": 8.19e9, "Qwen/Qwen3-32B": 32.8e9}
    for name, params in published.items():
        assert KNOWN[name].params == pytest.approx(params, rel=0.01), name


def test_a_model_folder_is_read_from_its_config(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({
        "num_hidden_layers": 3, "hidden_size": 96, "intermediate_size": 288, "num_attention_heads": 4,
        "vocab_size": 637, "tie_word_embeddings": True}))
    shape = shape_of(tmp_path)
    assert (shape.layers, shape.kv_heads, shape.head_dim, shape.tied) == (3, 4, 24, True)
    assert shape_of("nobody/unknown-model") is None


def test_zero_stages_and_offload_shrink_the_model_states():
    model = KNOWN["Qwen/Qwen3-8B"]
    totals = {name: estimate_training(Training(model, "full", zero=zero_of(name), world=8)).total_gib
              for name in (None, "zero2", "zero3", "zero3_offload")}
    assert totals[None] > totals["zero2"] > totals["zero3"] > totals["zero3_offload"]
    assert zero_of("zero3_offload") == Zero(3, offload_optimizer=True, offload_param=True)


def test_a_deepspeed_json_file_is_read(tmp_path):
    path = tmp_path / "ds.json"
    path.write_text(json.dumps({"zero_optimization": {"stage": 2, "offload_optimizer": {"device": "cpu"}}}))
    assert zero_of(str(path)) == Zero(2, offload_optimizer=True)


def test_gradient_checkpointing_keeps_one_layer_not_all():
    model = KNOWN["Qwen/Qwen2.5-1.5B-Instruct"]
    on = estimate_training(Training(model, "lora", 16, length=4096)).gib("activations")
    off = estimate_training(Training(model, "lora", 16, length=4096, gradient_checkpointing=False)).gib("activations")
    assert off > 10 * on


def test_a_resident_teacher_adds_its_weights():
    student, teacher = KNOWN["Qwen/Qwen2.5-1.5B-Instruct"], KNOWN["Qwen/Qwen2.5-7B-Instruct"]
    alone = estimate_training(Training(student, "lora", 16, length=4096))
    beside = estimate_training(Training(student, "lora", 16, length=4096, teacher=teacher))
    assert beside.total - alone.total > 2 * teacher.params


def test_vllm_takes_its_share_and_says_what_does_not_fit():
    model = KNOWN["Qwen/Qwen3-32B"]
    assert estimate_vllm(model, 0.9, 80, tensor_parallel=2, max_model_len=8192).total_gib == pytest.approx(72)
    assert "weights (61.0 GiB per GPU) do not fit" in estimate_vllm(model, 0.7, 80).notes[0]
    assert "40960-token sequence's KV cache" in estimate_vllm(model, 0.9, 80).notes[0]  # the model's own length
    tiny = Shape(2, 64, 128, 2, 2, 32, 100)
    assert estimate_vllm(tiny, 0.9, 80).notes == ()
