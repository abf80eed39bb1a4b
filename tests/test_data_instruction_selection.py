import pytest

from cookbook.data.instruction_selection import (
    balance_task_types,
    counts,
    judge_messages,
    language_shortfall,
    mfd_gap,
    random_subset,
    select_by_mfd,
    translation_requests,
    with_mfd,
)
from cookbook.data.instruction_sources import InstructionRecord, load_instructions
from cookbook.data.judges import parse_score


def rec(i, lang="en", task_type="note"):
    return InstructionRecord(id=f"i{i}", instruction=f"task {i}", response=None, lang=lang, source="test",
                             task_type=task_type)


def test_the_gap_is_the_teachers_lead():
    assert mfd_gap(8, 2) == 6.0  # the student is far behind: worth distilling
    assert mfd_gap(3, 7) == -4.0  # the student already does better: nothing to learn
    assert mfd_gap(None, 2) is None and mfd_gap(8, None) is None


def test_select_by_mfd_keeps_large_gaps_and_counts_unscored():
    records = with_mfd([rec(i) for i in range(5)], [9, 9, 5, None, 2], [0, 8, 1, 3, 6])
    assert [r.meta["mfd"] for r in records] == [9.0, 1.0, 4.0, None, -4.0]
    selection = select_by_mfd(records, min_gap=4)
    assert [r.id for r in selection.kept] == ["i0", "i2"]
    assert selection.counts() == {"kept": 2, "dropped": 3, "unscored": 1}


def test_select_by_mfd_refuses_unscored_records():
    with pytest.raises(ValueError, match="i0 has no MFD score"):
        select_by_mfd([rec(0)], 1)


def test_with_mfd_needs_one_score_of_each_per_instruction():
    with pytest.raises(ValueError, match="2 records, 1 teacher scores and 2 student scores"):
        with_mfd([rec(0), rec(1)], [1], [1, 2])


def test_balance_task_types_caps_each_type_keeping_the_largest_gaps_in_order():
    types = ["note", "note", "note", "story", "story", "advice"]
    records = with_mfd([rec(i, task_type=t) for i, t in enumerate(types)], [9, 9, 9, 9, 9, 9], [5, 1, 3, 0, 2, 4])
    assert [r.id for r in balance_task_types(records)] == ["i1", "i3", "i5"]  # cap = the rarest type's 1
    assert [r.id for r in balance_task_types(records, cap=2)] == ["i1", "i2", "i3", "i4", "i5"]
    assert counts(records, "task_type") == {"note": 3, "story": 2, "advice": 1}


def test_random_subset_is_seeded_and_ordered():
    items = list(range(20))
    a, b = random_subset(items, 5, seed=1), random_subset(items, 5, seed=1)
    assert a == b == sorted(a) and len(set(a)) == 5 and a != random_subset(items, 5, seed=2)
    with pytest.raises(ValueError, match="a random subset of 21 from 20"):
        random_subset(items, 21, seed=1)


def test_language_balance_asks_the_teacher_for_the_missing_language():
    records = with_mfd([rec(0, "en"), rec(1, "en"), rec(2, "en"), rec(3, "en"), rec(4, "zh")],
                       [9] * 5, [5, 1, 8, 3, 0])
    assert language_shortfall(records) == {"en": 0, "zh": 3}
    requests = translation_requests(records)
    # three English sources become Chinese, the largest gaps first, each used once
    assert [(source.id, lang) for source, lang, _ in requests] == [("i1", "zh"), ("i3", "zh"), ("i0", "zh")]
    text = requests[0][2][-1]["content"]
    assert "Chinese" in text and "task 1" in text


def test_the_judge_request_asks_for_a_score_the_parser_reads():
    text = judge_messages("Answer in lowercase.", "all lowercase here.")[-1]["content"]
    assert "Answer in lowercase." in text and "all lowercase here." in text and 'write "Score: N"' in text
    assert parse_score("Every requirement holds.\nScore: 8") == 8


def test_the_checker_judge_scores_the_share_of_constraints_met():
    from cookbook.data.instruction_selection import IFEvalCheckerJudge

    [record] = load_instructions([{
        "key": 1, "prompt": "Write a note. Do not use any commas. Answer in lowercase only.",
        "instruction_id_list": ["punctuation:no_comma", "change_case:english_lowercase"], "kwargs": [{}, {}]}], "ifeval")
    judge = IFEvalCheckerJudge()
    assert judge.score(record, "tom has apples and he shares them.") == 9
    assert judge.score(record, "Tom has apples and he shares them.") == 4  # the commas rule only: round(4.5)
    assert judge.score(record, "Tom has apples, and he shares them.") == 0
    assert judge.score(rec(0), "anything") is None  # no constraints: no score
