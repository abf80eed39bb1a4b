import pytest

from cookbook.toy.prompts import chat_messages, think_response
from cookbook.toy.tokenizer import DEFAULT_SYSTEM, train_tokenizer


@pytest.fixture(scope="module")
def tok():
    corpus = ["Tom has 12 apples. He buys 30 more.", think_response("12+30:", 42), "system user assistant"] * 50
    return train_tokenizer(corpus, 400)


def test_digits_are_split_one_by_one(tok):
    pieces = [tok.decode([i]) for i in tok("12345 apples", add_special_tokens=False)["input_ids"]]
    assert pieces[:5] == ["1", "2", "3", "4", "5"]


def test_chatml_and_think_tokens_are_single_tokens(tok):
    for t in ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>"]:
        assert len(tok(t, add_special_tokens=False)["input_ids"]) == 1, t
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"


def test_think_survives_decoding_but_chatml_does_not(tok):
    text = "<|im_start|>assistant\n" + think_response("1+1=2.", 2) + "<|im_end|>"
    decoded = tok.decode(tok(text, add_special_tokens=False)["input_ids"], skip_special_tokens=True)
    assert decoded.startswith("assistant\n<think>") and "<|im_end|>" not in decoded


def test_any_text_round_trips(tok):
    text = "Ünïcode ✓ 数学 {x}^2 \\boxed{7}\n\ttabs"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


def test_chat_template_is_qwen25_chatml_with_its_default_system(tok):
    rendered = tok.apply_chat_template(chat_messages("Q?"), add_generation_prompt=True, tokenize=False)
    assert rendered == (f"<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n"
                        "<|im_start|>user\nQ?\nPlease reason step by step, and put your final answer "
                        "within \\boxed{}.<|im_end|>\n<|im_start|>assistant\n")
    own = tok.apply_chat_template(chat_messages("Q?", system="Be brief."), tokenize=False)
    assert own.startswith("<|im_start|>system\nBe brief.<|im_end|>\n") and DEFAULT_SYSTEM not in own
