"""The tiny profile's rule-based rewrites bring the toy teacher's rambling and terse chains
into the RV band, as a teacher's long2short / short2long rewrites would."""

from cookbook.data.generate import RuleBasedToyRewriter, apply_rewrite, rewrite_kinds
from cookbook.data.judges import RuleBasedToyJudge, score_records
from cookbook.data.records import record_from_reply
from cookbook.data.verify import verify
from cookbook.toy.problems import generate
from cookbook.toy.prompts import think_response

BAND = (3, 5)  # the tiny recipe's rv_band


def _records(style: str, levels=(1, 2, 3, 4)):
    problems = [p for level in levels for p in generate(30, {level: 1.0}, 0, f"rewrite-{level}")]
    return problems, [record_from_reply(p.question, think_response(p.cot(style), p.answer), id=f"{p.id}-{style}",
                                        ground_truth=str(p.answer)) for p in problems]


def test_the_judge_puts_each_style_of_the_toy_teacher_below_in_or_above_the_band():
    judge = RuleBasedToyJudge()
    for style, side in (("terse", "below"), ("normal", "in"), ("verbose", "above")):
        _, records = _records(style)
        for r in records:
            rv = judge.rv(r)
            assert {"below": rv < BAND[0], "in": BAND[0] <= rv <= BAND[1], "above": rv > BAND[1]}[side], (style, rv)


def test_rewrites_of_verified_chains_outside_the_band_become_the_normal_chain_and_verify_again():
    rewriter = RuleBasedToyRewriter()
    for style, kind in (("verbose", "long2short"), ("terse", "short2long")):
        problems, records = _records(style, levels=(1, 2, 3, 4, 5))
        scored = score_records(verify(records), RuleBasedToyJudge())
        todo = rewrite_kinds(scored, BAND)
        assert {k for _, k in todo} <= {kind} and len(todo) >= len(records) * 0.8  # level 5 verbose is in band
        rewritten = verify([apply_rewrite(r, rewriter.reply(r, k), k) for r, k in todo])
        by_id = {p.question: p for p in problems}
        assert all(r.verified and r.reasoning == by_id[r.question].digit_cot for r in rewritten)
        assert all(r.meta["rewrite"] == kind and r.rv is None for r in rewritten)  # to be scored again


def test_wrong_or_unscored_chains_are_not_rewritten():
    _, records = _records("verbose", levels=(1,))
    wrong = [r.__class__(**{**r.to_dict(), "verified": False, "rv": 9}) for r in records[:3]]
    unscored = [r.__class__(**{**r.to_dict(), "verified": True, "rv": None}) for r in records[3:6]]
    assert rewrite_kinds(wrong + unscored, BAND) == []
