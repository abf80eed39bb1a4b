"""Logits KD needs one vocabulary: the check that runs before any compute.

White-box KD compares the teacher's and the student's next-token distributions id by id:
the teacher's probability of token 8,717 is matched with the student's probability of
token 8,717. That is only meaningful when both models map every id to the same string.
Qwen2.5-7B and Qwen2.5-1.5B do (their embedding matrices differ in padding rows only);
DeepSeek-R1 (129,280 tokens) and Qwen2.5 (151,665) do not, nor do Llama and Qwen. Between
different vocabularies, distil the teacher's *text* instead (sequence-level KD: notebook 03).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


class VocabularyMismatch(ValueError):
    """Teacher and student tokenize differently: logits KD is impossible, sequence KD is not."""


def _tokenizer(ref):
    if hasattr(ref, "get_vocab"):
        return ref
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(ref))


def _vocab(tokenizer) -> dict[str, int]:
    return dict(tokenizer.get_vocab())  # added tokens included


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of the token -> id mapping (special and added tokens included)."""
    items = sorted(_vocab(_tokenizer(tokenizer)).items(), key=lambda kv: kv[1])
    return hashlib.sha256(json.dumps(items, ensure_ascii=False).encode()).hexdigest()[:16]


def logits_width(model_dir: str | Path) -> int | None:
    """``vocab_size`` of a model folder's config.json (its logits width), if it has one."""
    config = Path(model_dir) / "config.json"
    if not config.exists():
        return None
    cfg = json.loads(config.read_text())
    return cfg.get("vocab_size") or cfg.get("text_config", {}).get("vocab_size")


def check_vocabularies(teacher, student, teacher_name: str = "teacher", student_name: str = "student") -> int:
    """Raise :class:`VocabularyMismatch` unless both tokenizers map ids to the same tokens.

    ``teacher`` and ``student`` are model folders or tokenizers. Returns the shared
    vocabulary size (the number of real tokens; logits may be wider, padded).
    """
    t_vocab, s_vocab = _vocab(_tokenizer(teacher)), _vocab(_tokenizer(student))
    if t_vocab != s_vocab:
        t_by_id = {i: tok for tok, i in t_vocab.items()}
        s_by_id = {i: tok for tok, i in s_vocab.items()}
        differ = sorted(i for i in set(t_by_id) | set(s_by_id) if t_by_id.get(i) != s_by_id.get(i))
        first = differ[0]
        raise VocabularyMismatch(
            f"the {teacher_name} ({teacher}) and the {student_name} ({student}) do not share a vocabulary: "
            f"{len(t_vocab):,} vs {len(s_vocab):,} tokens, {len(differ):,} ids differ (id {first}: "
            f"{t_by_id.get(first)!r} vs {s_by_id.get(first)!r}). Logits KD matches next-token probabilities id by "
            f"id, so it needs one tokenizer. Use sequence-level KD instead: fine-tune the student on the teacher's "
            f"text (notebook 03_sft, stage data's 'sft' file), which works across vocabularies; or pick a teacher "
            f"from the student's family (e.g. Qwen2.5-7B-Instruct for Qwen2.5-1.5B).")
    for name, ref in ((teacher_name, teacher), (student_name, student)):
        width = logits_width(ref) if isinstance(ref, str | Path) else None
        if width is not None and width < len(t_vocab):
            raise VocabularyMismatch(f"the {name} ({ref}) has {width:,} logits for {len(t_vocab):,} tokens")
    return len(t_vocab)
