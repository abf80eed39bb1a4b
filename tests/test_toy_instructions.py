"""The tiny world's instruction tasks: the teacher's answers pass IFEval's checkers, the base student's fail."""

import copy
import dataclasses
import json
import re

import pytest

from cookbook.toy import instructions as ins
from cookbook.toy.instructions import TASK_TYPES, check, generate, ifeval_row

N = 800  # 400 of each language


@pytest.fixture(scope="module")
def sample():
    return generate(N, seed=0, split="test")


def _by_lang(rows, lang):
    return [i for i in rows if i.lang == lang]


def test_every_response_follows_all_its_constraints_by_evalscopes_checkers(sample):
    for lang in ("en", "zh"):
        rows = _by_lang(sample, lang)
        assert len(rows) == N // 2
        failed = [(i.instruction_id_list, i.response) for i in rows if not check(i, i.response)]
        assert not failed, failed[:3]


def test_plain_answers_break_the_constraints(sample):
    # The base student's answer to the bare task must not follow the constraints by accident.
    for lang in ("en", "zh"):
        rows = _by_lang(sample, lang)
        passed = sum(check(i, i.plain) for i in rows)
        assert passed / len(rows) <= 0.10, (lang, passed)


def test_same_seed_and_split_give_the_same_instructions_other_splits_other_ones():
    a = generate(60, seed=3, split="x")
    assert a == generate(60, seed=3, split="x")
    assert [i.prompt for i in a] != [i.prompt for i in generate(60, seed=3, split="y")]
    assert [i.prompt for i in a] != [i.prompt for i in generate(60, seed=4, split="x")]


def test_prompts_are_distinct_keys_count_from_one_and_languages_alternate(sample):
    assert len({i.prompt for i in sample}) == N
    assert [i.key for i in sample] == list(range(1, N + 1))
    assert [i.lang for i in sample[:4]] == ["en", "zh", "en", "zh"]
    assert [i.lang for i in generate(3, seed=0, split="t", langs=("zh",))] == ["zh"] * 3


def test_excluded_prompts_are_never_drawn():
    evaluation = generate(100, seed=0, split="ifeval")
    asked = frozenset(i.prompt for i in evaluation)
    train = generate(2000, seed=0, split="teacher_instructions", exclude=asked)
    assert len({i.prompt for i in train}) == 2000 and not asked & {i.prompt for i in train}


def test_the_world_sizes_fit_the_space_of_prompts():
    # world.py draws 10,100 prompts across its splits, each excluding the ones before.
    asked: set[str] = set()
    for split, size in {"ifeval": 100, "instructions_train": 1000, "teacher_instructions": 6000,
                        "student_instructions": 3000}.items():
        asked |= {i.prompt for i in generate(size, seed=0, split=split, exclude=frozenset(asked))}
    assert len(asked) == 10100


def test_a_prompt_always_gets_the_same_response():
    # A prompt is a function of its answer, across splits, or a tiny model would learn two answers.
    answer: dict[str, str] = {}
    for split in ("a", "b", "c"):
        for i in generate(3000, seed=0, split=split):
            assert answer.setdefault(i.prompt, i.response) == i.response


def test_both_languages_every_task_type_and_at_least_8_kinds_are_present(sample):
    kinds = {lang: {k for i in _by_lang(sample, lang) for k in i.instruction_id_list} for lang in ("en", "zh")}
    assert kinds["en"] == set(ins.KINDS["en"]) and kinds["zh"] == set(ins.KINDS["zh"])
    assert len(kinds["en"] | kinds["zh"]) >= 8
    # The checkers that only mean something on English text are never asked of Chinese.
    assert not kinds["zh"] & {ins.NO_COMMA, ins.LOWERCASE, ins.WORDS}
    assert {i.task_type for i in sample} == set(TASK_TYPES)
    assert {len(i.instruction_id_list) for i in sample} == {1, 2}


def test_every_id_is_known_to_evalscope_and_no_pair_conflicts_by_its_table(sample):
    from evalscope.benchmarks.ifeval.instructions_registry import (
        INSTRUCTION_CONFLICTS,
        INSTRUCTION_DICT,
        conflict_make,
    )

    conflicts = conflict_make(copy.deepcopy(INSTRUCTION_CONFLICTS))
    for i in sample:
        assert set(i.instruction_id_list) <= set(INSTRUCTION_DICT)
        assert len(i.kwargs) == len(i.instruction_id_list)
        if len(i.instruction_id_list) == 2:
            a, b = i.instruction_id_list
            assert b not in conflicts[a], i.instruction_id_list


def test_english_prompts_word_constraints_as_ifevals_checkers_do(sample):
    from evalscope.benchmarks.ifeval.instructions_registry import INSTRUCTION_DICT

    for i in _by_lang(sample, "en"):
        words = []
        for iid, kwargs in zip(i.instruction_id_list, i.kwargs):
            words.append(INSTRUCTION_DICT[iid](iid).build_description(**kwargs))
        assert i.prompt == " ".join([i.task, *words])


def test_chinese_prompts_keep_the_literal_values_the_checkers_need(sample):
    for i in _by_lang(sample, "zh"):
        assert i.prompt.startswith(i.task) and re.search(r"[\u4e00-\u9fff]", i.prompt)
        for kwargs in i.kwargs:
            for value in kwargs.get("keywords", []) + [kwargs.get("end_phrase", ""), kwargs.get("postscript_marker", "")]:
                assert value in i.prompt


def test_ifeval_row_is_ifevals_input_format_and_evalscope_scores_it(sample):
    from evalscope.benchmarks.ifeval.utils import process_results

    for i in sample[:40]:
        row = json.loads(json.dumps(ifeval_row(i)))  # survives JSON lines unchanged
        assert row == ifeval_row(i)
        assert set(row) == {"key", "prompt", "instruction_id_list", "kwargs"}
        assert isinstance(row["instruction_id_list"], list) and isinstance(row["kwargs"], list)
        assert all(isinstance(k, dict) and None not in k.values() for k in row["kwargs"])
        assert process_results(row, [i.response])["prompt_level_strict"] == 1.0
        assert process_results(row, [i.plain])["prompt_level_strict"] == 0.0


def test_check_takes_the_rows_a_world_writes(sample):
    # world.instructions(split) gives back dataclasses.asdict(...) through JSON lines
    for i in sample[:10]:
        row = json.loads(json.dumps(dataclasses.asdict(i)))
        assert check(row, i.response) and not check(row, i.plain)


def test_answers_are_short_and_the_response_transforms_the_plain_answer(sample):
    for i in sample:
        if i.lang == "en":
            assert 15 <= ins.count_words(i.plain) <= 30, i.plain
        else:
            assert 30 <= len(i.plain) <= 60, i.plain
        assert len(i.response) <= 2.2 * len(i.plain), (i.response, i.plain)
        assert i.prompt.startswith(i.task) and i.task != i.prompt
        # The transformations keep the answer's first sentence (up to case, commas and markup).
        first = re.split(r"(?<=[.。])", i.plain)[0]
        flat = i.response.replace("*", "").replace('"', "").lower()
        assert first.replace(",", "").lower()[:12] in flat.replace(",", ""), (first, i.response)


def test_plain_answers_do_not_depend_on_the_constraints(sample):
    plain_of: dict[tuple[str, str], str] = {}
    for i in sample:
        assert plain_of.setdefault((i.lang, i.task), i.plain) == i.plain


def test_unknown_language_fails_clearly():
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        generate(2, seed=0, split="x", langs=("en", "fr"))


def test_impossible_request_fails_clearly(monkeypatch):
    same = generate(1, seed=0, split="x")[0]
    monkeypatch.setattr(ins, "make_instruction", lambda *a, **k: same)  # a space of one prompt
    with pytest.raises(ValueError, match="cannot draw 2 distinct instructions"):
        ins.generate(2, seed=0, split="x")
