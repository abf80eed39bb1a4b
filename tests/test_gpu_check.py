"""bench/gpu_check.py's parts that need no GPU: the model it builds (at a small size), its rows,
the swift sft flags, the estimate beside it, and its clear stop where there is no CUDA."""

import importlib.util
import json
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location("gpu_check", Path(__file__).parents[1] / "bench" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_check)


def test_the_model_has_qwen25_15b_shape_and_the_rows_fit_max_length(tmp_path):
    from transformers import AutoConfig, AutoTokenizer

    assert gpu_check.QWEN25_15B["num_hidden_layers"] == 28 and gpu_check.QWEN25_15B["vocab_size"] == 151936
    model = gpu_check.build_model(tmp_path / "m", gpu_check.SMALL)
    config = AutoConfig.from_pretrained(model)
    assert (config.model_type, config.hidden_size, config.num_key_value_heads) == ("qwen2", 64, 2)
    tokenizer = AutoTokenizer.from_pretrained(model)
    tokens = gpu_check.write_rows(tmp_path / "rows.jsonl", tokenizer, rows=2, tokens=500)
    assert 500 <= tokens < 500 + gpu_check.LENGTH - gpu_check.ROW_TOKENS  # the reply, and the prompt around it
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and rows[0]["messages"][1]["role"] == "assistant"
    assert gpu_check.ROW_TOKENS < gpu_check.LENGTH  # a full-size row is not dropped by ms-swift


def test_the_swift_flags_are_a_bf16_lora_run_at_4096():
    argv = gpu_check.sft_argv(Path("/m"), Path("/d.jsonl"), Path("/o"), steps=3)
    f = dict(zip(argv[::2], argv[1::2]))
    assert f["--tuner_type"] == "lora" and f["--torch_dtype"] == "bfloat16" and f["--max_length"] == "4096"
    assert f["--max_steps"] == "3" and f["--model_type"] == "qwen2" and f["--check_model"] == "false"


def test_the_estimate_is_the_plans():
    estimate = gpu_check.estimate_gib()
    if estimate is None:
        pytest.skip("cookbook.memory is not there")
    assert 3 < estimate < 40  # 1.5B bf16 weights (2.9 GiB) + logits at 4096 x 152k + activations


def test_figures_come_from_ms_swifts_log():
    log = [{"loss": 12.0, "global_step/max_steps": "1/2", "memory(GiB)": 9.5},
           {"loss": 11.0, "global_step/max_steps": "2/2", "memory(GiB)": 10.25},
           {"train_runtime": 4.0}]
    got = gpu_check.figures(log, row_tokens=4000, steps=2)
    assert got == {"swift_memory_gib": 10.25, "train_runtime_s": 4.0, "tokens_per_second": 2000.0, "final_loss": 11.0}


def test_without_cuda_it_stops_with_a_clear_message(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here")
    assert gpu_check.main([]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err
