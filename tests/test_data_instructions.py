from cookbook.data.instructions import (
    expansion_messages,
    extraction_messages,
    parse_numbered_list,
    parse_pairs,
    parse_refinement,
    refinement_messages,
)


def test_requests_render_their_values():
    expand = expansion_messages(["Add 12 and 30.", "Subtract 8 from 50."], count=5)[-1]["content"]
    assert "1. Add 12 and 30.\n2. Subtract 8 from 50." in expand and "Write 5 new tasks" in expand
    assert "Task:\nAdd two numbers." in refinement_messages("Add two numbers.")[-1]["content"]
    assert "up to 2 question-and-answer" in extraction_messages("Carry a ten.", count=2)[-1]["content"]


def test_parse_numbered_list_ignores_chatter():
    reply = "Here you go:\n1. Add 14 and 27.\n2) Take 9 from 40.\n\nHope this helps! 3 more?"
    assert parse_numbered_list(reply) == ["Add 14 and 27.", "Take 9 from 40."]


def test_parse_refinement():
    assert parse_refinement('Improved task: "Add 12 and 30 and give the sum."') == "Add 12 and 30 and give the sum."
    assert parse_refinement("   ") is None


def test_parse_pairs_keeps_only_complete_objects():
    reply = ('Sure:\n{"instruction": "What is a carry?", "response": "The ten passed to the next column."},\n'
             '{"instruction": "", "response": "x"}\n{broken\n'
             '{"instruction": "Why borrow?", "response": "To subtract."}')
    assert parse_pairs(reply) == [
        {"instruction": "What is a carry?", "response": "The ten passed to the next column."},
        {"instruction": "Why borrow?", "response": "To subtract."},
    ]
