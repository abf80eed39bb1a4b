"""The teacher pass's vLLM branch, fed vLLM-shaped output (vLLM itself needs a GPU)."""

from types import SimpleNamespace

import numpy as np
import pytest

from cookbook.kd.samples import Sample
from cookbook.kd.teacher_pass import run_teacher_pass, topk_rows


def lp(x):
    return SimpleNamespace(logprob=x)


def test_vllm_rows_are_the_response_positions_best_first_without_padding_ids():
    sample = Sample("s0", 1, input_ids=(5, 6, 7, 8, 9), prompt_len=3)  # response: tokens 3 and 4
    prompt_logprobs = [
        None, {6: lp(-0.1)}, {7: lp(-0.2)},  # prompt tokens: not stored
        {8: lp(-0.5), 2: lp(-0.3), 1000: lp(-0.01), 4: lp(-2.0)},  # 1000: a padding row of a wider head
        {9: lp(-3.0), 3: lp(-0.1), 1: lp(-1.0)},  # the actual token 9 is not among the 2 best
    ]
    lps, ids = topk_rows(prompt_logprobs, sample, k=2, vocab=100)
    assert ids.tolist() == [[2, 8], [3, 1]]
    np.testing.assert_allclose(lps, [[-0.3, -0.5], [-0.1, -1.0]], rtol=1e-6)


def test_vllm_rows_with_too_few_ids_in_the_vocabulary_name_the_sample():
    sample = Sample("s7", 1, input_ids=(5, 6), prompt_len=1)
    with pytest.raises(ValueError, match="sample s7: .* fewer than k=2"):
        topk_rows([None, {6: lp(-0.1), 500: lp(-0.2)}], sample, k=2, vocab=100)


def test_an_unknown_backend_fails_before_anything_is_loaded(tmp_path):
    with pytest.raises(ValueError, match="backend must be transformers or vllm, got 'tgi'"):
        run_teacher_pass(tmp_path / "no-teacher", tmp_path / "no-student", [], tmp_path / "store", k=2, backend="tgi")
