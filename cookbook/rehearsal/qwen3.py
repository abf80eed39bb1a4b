"""A tiny Qwen3-architecture stand-in with Qwen3's thinking-mode chat template, for the
full recipe's rehearsal (its students and white-box teacher are Qwen3 models).

It is built like the tiny world's base student (same tokenizer, size, data and training
loop: about a minute on 2 cores), as a ``Qwen3ForCausalLM`` (q/k norms, no qkv bias) whose
chat template honours ``enable_thinking`` as Qwen3's does: thinking on, the reply opens
with ``<think>``; off, the prompt ends in an empty ``<think>\\n\\n</think>\\n\\n``. It lives
beside the world, not inside it (keyed by the world and this file), so that adding it did
not rebuild the world.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from filelock import FileLock

# Qwen3's ChatML with its thinking switch (the parts a rehearsal uses; no tools): no default
# system prompt; past assistant turns keep only what follows </think>.
QWEN3_CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' and '</think>' in message['content'] %}"
    "{{- '<|im_start|>assistant\\n' + message['content'].split('</think>')[-1].lstrip('\\n') + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}"
    "{%- endif %}"
)


def standin_dir(world) -> Path:
    key = hashlib.sha256(Path(__file__).read_bytes() + world.dir.name.encode()).hexdigest()[:12]
    return world.dir.parent.parent / "rehearsal" / f"qwen3-{key}"


def qwen3_standin(world, log=print) -> Path:
    """The stand-in's folder, built on first use.

    Two rehearsals may ask for it at once (the full recipe's on two pytest-xdist workers, or
    `make rehearse` beside `make test`; CI once failed so, both renaming one ``.building``
    folder): the first builds it under a lock, the second waits for it and reuses it.
    """
    folder = standin_dir(world)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(folder.with_name(folder.name + ".lock")):  # an OS lock: freed if the process dies
        if not (folder / "config.json").exists():
            _build(world, folder, log)
    return folder


def _build(world, folder: Path, log) -> None:
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    from cookbook.toy.models import ModelSpec, TrainSpec, encode_example, train_causal_lm
    from cookbook.toy.prompts import chat_messages, think_response

    tokenizer = AutoTokenizer.from_pretrained(world.model_dir("student-base"))
    tokenizer.chat_template = QWEN3_CHAT_TEMPLATE
    spec = ModelSpec(**world.info["spec"]["student"])
    training = TrainSpec(**world.info["spec"]["student_training"])
    torch.manual_seed(world.info["seed"])
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    config = Qwen3Config(vocab_size=len(tokenizer), hidden_size=spec.hidden, intermediate_size=spec.intermediate,
                         num_hidden_layers=spec.layers, num_attention_heads=spec.heads,
                         num_key_value_heads=spec.heads, head_dim=spec.hidden // spec.heads,
                         max_position_embeddings=spec.max_positions, tie_word_embeddings=True,
                         bos_token_id=None, eos_token_id=eos, pad_token_id=tokenizer.pad_token_id)
    model = Qwen3ForCausalLM(config)
    model.generation_config.eos_token_id, model.generation_config.pad_token_id = eos, tokenizer.pad_token_id
    examples = [encode_example(tokenizer, chat_messages(p.question), think_response(p.short_cot, p.answer))
                for p in world.problems("student_pretrain")]
    log(f"Qwen3 stand-in: {sum(p.numel() for p in model.parameters()):,} parameters, {training.steps} steps")
    train_causal_lm(model, examples, training, tokenizer.pad_token_id, seed=world.info["seed"])
    tmp = folder.with_name(folder.name + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(folder, ignore_errors=True)  # a folder left without config.json by a killed build
    tmp.rename(folder)
