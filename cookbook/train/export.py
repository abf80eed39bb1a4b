"""From a training checkpoint to a model folder anyone can load, and a chat with it.

* full fine-tuning: the checkpoint already is a Hugging Face model; the exported folder
  keeps the model and tokenizer files and leaves the optimizer state behind;
* LoRA: ``swift export --adapters <checkpoint> --merge_lora true`` folds the adapter into
  the base weights (ms-swift's own merge), so evalscope, vLLM and later stages load a
  plain model.

Exports are written to a temporary folder and renamed, and skipped when the folder
already holds this checkpoint's export.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from cookbook.io import atomic_write_json, sha256_file
from cookbook.train.launcher import run_swift

# What a checkpoint holds only for resuming training (HF Trainer, DeepSpeed).
_TRAINING_ONLY = ("optimizer.pt", "scheduler.pt", "scaler.pt", "trainer_state.json", "training_args.bin",
                  "rng_state", "global_step", "latest", "zero_to_fp32.py")
EXPORT_MARK = "cookbook_export.json"


def is_adapter(checkpoint: Path) -> bool:
    return (Path(checkpoint) / "adapter_config.json").exists()


def _source_id(checkpoint: Path) -> str:
    trainer_state = Path(checkpoint) / "trainer_state.json"
    return f"{Path(checkpoint).resolve()}:{sha256_file(trainer_state) if trainer_state.exists() else ''}"


def _reuse(dest: Path, source: str) -> bool:
    mark = dest / EXPORT_MARK
    return mark.exists() and json.loads(mark.read_text()).get("source") == source


def exporting(dest: Path) -> Path:
    """The temporary folder an export is written to before it is renamed ``dest``."""
    return Path(dest).with_name(Path(dest).name + ".exporting")


def merge_flags(checkpoint: str | Path, out: str | Path) -> list[str]:
    """``swift export``'s flags that merge a LoRA checkpoint into its base model (cookbook.plan prints them)."""
    return ["--adapters", str(checkpoint), "--merge_lora", "true", "--output_dir", str(out)]


def export_model(checkpoint: str | Path, dest: str | Path) -> Path:
    """A loadable model folder at ``dest``: the merged LoRA model, or the full model's files."""
    checkpoint, dest = Path(checkpoint), Path(dest)
    source = _source_id(checkpoint)
    if _reuse(dest, source):
        return dest
    tmp = exporting(dest)
    shutil.rmtree(tmp, ignore_errors=True)
    if is_adapter(checkpoint):
        # ms-swift reads the base model and template from the checkpoint's args.json.
        run_swift("export", merge_flags(checkpoint, tmp), log_path=dest.parent / f"{dest.name}.export.log")
    else:
        tmp.mkdir(parents=True)
        for f in checkpoint.iterdir():
            if f.is_file() and not f.name.startswith(_TRAINING_ONLY):
                shutil.copy2(f, tmp / f.name)
    atomic_write_json(tmp / EXPORT_MARK, {"source": source})
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    return dest


def load(model_dir: str | Path):
    """(model, tokenizer) with transformers, on the GPU when there is one."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar in every notebook cell that loads a model
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto")
    if torch.cuda.is_available():
        model = model.to("cuda")
    model.eval()
    return model, AutoTokenizer.from_pretrained(model_dir)


def conversation_ids(tokenizer, messages: list[dict]) -> tuple[list[int], int]:
    """Token ids of a conversation through the chat template, and where its last (assistant) turn starts.

    The prompt is ``messages[:-1]`` with the generation prompt, as the model sees it at inference.
    """
    def ids(turns, **kw):
        out = tokenizer.apply_chat_template(turns, tokenize=True, **kw)
        return list(out["input_ids"] if hasattr(out, "keys") else out)

    prompt = ids(messages[:-1], add_generation_prompt=True)
    full = ids(messages)
    if full[: len(prompt)] != prompt:
        raise ValueError("the chat template does not extend the prompt with the reply")
    return full, len(prompt)


class Chat:
    """A conversation with a model folder: ``chat.ask("...")`` keeps the history."""

    def __init__(self, model_dir: str | Path, max_new_tokens: int = 512, system: str | None = None):
        self.model, self.tokenizer = load(model_dir)
        self.max_new_tokens = max_new_tokens
        self.messages: list[dict] = [{"role": "system", "content": system}] if system else []

    def ask(self, message: str) -> str:
        import torch

        self.messages.append({"role": "user", "content": message})
        ids = self.tokenizer.apply_chat_template(self.messages, add_generation_prompt=True, return_tensors="pt",
                                                 return_dict=True)
        ids = {k: v.to(self.model.device) for k, v in ids.items()}
        with torch.inference_mode():
            out = self.model.generate(**ids, max_new_tokens=self.max_new_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id)
        reply = self.tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()
        self.messages.append({"role": "assistant", "content": reply})
        return reply

    def reset(self) -> None:
        self.messages = [m for m in self.messages if m["role"] == "system"]
