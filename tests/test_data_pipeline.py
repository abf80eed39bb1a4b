"""The data stage as a notebook runs it, on toy problems with a stub teacher (no model)."""

import itertools
import re

from cookbook.data.formats import (
    cogpo_row,
    dpo_row,
    grpo_row,
    sft_row,
    validate_file,
    write_cogpo,
    write_dpo,
    write_grpo,
    write_sft,
)
from cookbook.data.generate import generate_cots, rewrite
from cookbook.data.judges import RuleBasedToyJudge, score_records
from cookbook.data.selection import select
from cookbook.data.verify import preference_pairs, verification_counts, verify
from cookbook.toy.problems import generate
from cookbook.toy.prompts import think_response


def stub_teacher(problems):
    """Replies in turn: a fitting chain, a rambling one, a one-liner, a wrong one."""
    by_question = {p.question: p for p in problems}
    styles = itertools.cycle(["fit", "ramble", "terse", "wrong"])

    def chat(messages):
        p = by_question[messages[-1]["content"].split("\nPlease reason")[0]]
        style = next(styles)
        if style == "ramble":
            cot = "\nWait, let me redo this from the start.\n".join([p.digit_cot] * 3)
        elif style == "terse":
            cot = p.short_cot
        else:
            cot = p.digit_cot
        return think_response(cot, p.answer + 1 if style == "wrong" else p.answer)

    return chat


def stub_shortener(messages):
    """Keeps the first pass of a rambling chain, as a teacher asked for long2short would."""
    prompt = messages[-1]["content"]
    chain = re.search(r"Worked solution:\n(.*?)\nWait", prompt, re.DOTALL).group(1)
    answer = re.search(r"Final answer of the worked solution: (.*)", prompt).group(1)
    return f"<think>{chain}</think>\\boxed{{{answer}}}"


def test_generate_verify_score_select_write(tmp_path):
    problems = generate(12, {1: 1.0, 2: 1.0}, seed=7, split="pipeline")
    items = [{"id": p.id, "question": p.question, "ground_truth": p.answer} for p in problems]
    records, counts = generate_cots(items, stub_teacher(problems), samples=2)
    assert len(records) == 24 and counts == {"records": 24, "failed": 0, "cut off": 0, "empty": 0}

    records = verify(records)
    assert verification_counts(records) == {"correct": 18, "wrong": 6, "unverified": 0}

    records = score_records(records, RuleBasedToyJudge())
    assert all(r.meta["judge"] == "rule-based-toy (not an LLM)" for r in records)

    sel = select(records, correct="required", rv=(3, 5), max_per_question=1)
    assert sel.counts["input"] == 24 == sel.counts["kept"] + sum(sel.dropped.values())
    assert sel.dropped["wrong answer"] == 6 and sel.dropped["rv outside 3-5"] == 12
    assert all("Wait" not in r.reasoning and "ones:" in r.reasoning for r in sel.kept)

    # the rambling chains, shortened by the (stub) teacher, come back into the pool
    rambling = [r for r in records if r.rv >= 7 and r.verified]
    shortened, counts = rewrite(rambling, stub_shortener, "long2short")
    assert counts["rewritten"] == len(rambling) == 6
    shortened = score_records(verify(shortened), RuleBasedToyJudge())
    assert all(r.verified and 3 <= r.rv <= 5 for r in shortened)

    sft = write_sft(tmp_path / "sft.jsonl", [sft_row(r) for r in sel.kept])
    assert sft.written == len(sel.kept) and validate_file(sft.path, "sft") == sft.written

    pairs, counts = preference_pairs(records)
    assert counts["pairs"] == len(pairs) == 6
    assert write_dpo(tmp_path / "dpo.jsonl", [dpo_row(p) for p in pairs]).written == 6
    assert write_cogpo(tmp_path / "cogpo.jsonl", [cogpo_row(p) for p in pairs]).written == 6
    grpo = write_grpo(tmp_path / "grpo.jsonl", [grpo_row(i["question"], i["ground_truth"]) for i in items])
    assert grpo.written == 12
