"""Arithmetic word problems for the tiny world, with a teachable chain of thought.

A problem is a starting amount followed by one to three changes ("buys 45 more",
"gives away 17"). Difficulty grows with the number of changes and the size of the
numbers, so the same generator fills GSM8K-like (easy) and AIME-like (hard) splits.

Two ways of reasoning are written for every problem:

* ``digit_cot``: column-by-column arithmetic with explicit carries and borrows. This is
  the teacher's way. A model of under a million parameters learns it in minutes,
  because every step only needs two digits and a carry.
* ``short_cot``: one line, ``23 + 45 - 17 = 51``. This is the base student's way. It asks
  the model to do the whole sum in its head, which a tiny model cannot learn quickly:
  that gap is what distillation closes, and it is the lesson of the cookbook.

The teacher does not always reason at the same length, any more than R1 does. Its
training mixes three styles (``STYLES``), so its sampled chains vary the way R1's do:

* ``verbose_cot``: the question re-read, the column work, then "Wait, let me
  double-check" and the last change worked out again: correct but redundant, what a
  ThoughtX RV filter drops;
* ``digit_cot``: the column work once (the "normal" chain);
* ``terse_cot``: every change in one line of column sums, carries left implicit: short,
  and more often wrong.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

# level -> (number of changes, digits of every number)
LEVELS: dict[int, tuple[int, int]] = {
    1: (1, 2),
    2: (2, 2),
    3: (1, 3),
    4: (2, 3),
    5: (3, 3),
}
MAX_VALUE = 999  # every intermediate amount stays a non-negative number of at most 3 digits

NAMES = [("Tom", "He"), ("Anna", "She"), ("Lee", "He"), ("Mia", "She"),
         ("Sam", "He"), ("Zoe", "She"), ("Ben", "He"), ("Lily", "She")]
ITEMS = ["apples", "stickers", "marbles", "books", "coins", "cards", "pencils", "shells"]
GAIN = ["{p} buys {n} more.", "{p} finds {n} more.", "{p} gets {n} more.", "{p} wins {n} more."]
LOSS = ["{p} gives away {n}.", "{p} sells {n}.", "{p} loses {n}.", "{p} uses {n}."]
COLUMNS = ["ones", "tens", "hundreds"]


@dataclass(frozen=True)
class Problem:
    """One word problem and its ground truth."""

    id: str
    level: int
    question: str
    start: int
    steps: tuple[tuple[str, int], ...]  # ("+", 45), ("-", 17)
    answer: int
    meta: dict = field(default_factory=dict, compare=False)

    @property
    def expression(self) -> str:
        return str(self.start) + "".join(f"{op}{n}" for op, n in self.steps)

    @property
    def digit_cot(self) -> str:
        # First the words become arithmetic (numbers copied in order, which a small model
        # learns easily), then each change is worked out column by column.
        lines, value = [f"{self.expression}:"], self.start
        for op, n in self.steps:
            lines += column_arithmetic(value, op, n)
            value = value + n if op == "+" else value - n
        if len(self.steps) > 1:
            lines.append(f"{self.expression}={self.answer}.")
        return "\n".join(lines)

    @property
    def verbose_cot(self) -> str:
        # R1's rambling: the question re-read, and the last change worked out twice.
        lines, value = [f"Let me read the question again. {self.expression}:"], self.start
        for i, (op, n) in enumerate(self.steps):
            work = column_arithmetic(value, op, n)
            result = value + n if op == "+" else value - n
            lines += work
            if i == len(self.steps) - 1:
                lines += [f"Wait, let me double-check {value}{op}{n}.", *work[1:-1], f"Yes, {value}{op}{n}={result}."]
            value = result
        if len(self.steps) > 1:
            lines.append(f"{self.expression}={self.answer}.")
        return "\n".join(lines)

    @property
    def terse_cot(self) -> str:
        # One line per change: the column sums without words or carries ("7+5=12 2+4+1=7").
        # "Quickly:" first, so the style is chosen at the chain's first token (see STYLES).
        lines, value = [f"Quickly: {self.expression}:"], self.start
        for op, n in self.steps:
            result = value + n if op == "+" else value - n
            lines.append(f"{value}{op}{n}: {compact_columns(value, op, n)} -> {result}.")
            value = result
        return "\n".join(lines)

    def cot(self, style: str) -> str:
        """The chain in one of ``STYLES``."""
        return {"verbose": self.verbose_cot, "normal": self.digit_cot, "terse": self.terse_cot}[style]

    @property
    def short_cot(self) -> str:
        expr = str(self.start) + "".join(f" {op} {n}" for op, n in self.steps)
        return f"{expr} = {self.answer}."


# The teacher's styles and how often it was trained on each. Each starts with its own first
# token, so greedy decoding always takes the most common, verbose (as R1 rambles), and so
# does a student trained on every verified chain; sampling at 0.6 gives all three, for the
# RV judge to tell apart (notebook 02 selects by band). Terse is rare: with its carries left
# implicit it is often wrong (measured: 23% right, against 71% for verbose, in a first build).
STYLES = {"verbose": 0.5, "normal": 0.35, "terse": 0.15}


def column_arithmetic(a: int, op: str, b: int) -> list[str]:
    """Write a + b or a - b (a >= b) column by column, the way it is taught at school.

    Lines are compact ("ones: 5+9+0=14, carry 1.") because every token costs training
    time on 2 cores; each one still needs only two digits and a carry to get right.
    """
    width = max(len(str(a)), len(str(b)))
    da, db = str(a).zfill(width)[::-1], str(b).zfill(width)[::-1]
    lines = [f"{a}{op}{b}:"]
    carry = 0  # the carry (addition) or the borrow (subtraction) from the column before
    for i in range(width):
        x, y = int(da[i]), int(db[i])
        if op == "+":
            s = x + y + carry
            carry = s // 10
            lines.append(f"{COLUMNS[i]}: {x}+{y}+{s - x - y}={s}, carry {carry}.")
        else:
            v = x - y - carry
            carry = int(v < 0)
            fix = f", +10={v + 10}" if v < 0 else ""
            lines.append(f"{COLUMNS[i]}: {x}-{y}-{int(x - y - v)}={v}{fix}, borrow {carry}.")
    if op == "+" and carry:
        lines.append(f"{COLUMNS[width]}: carry 1.")
    lines.append(f"{a}{op}{b}={a + b if op == '+' else a - b}.")
    return lines


def compact_columns(a: int, op: str, b: int) -> str:
    """a op b as column sums in one line, each carry or borrow folded into the next column."""
    width = max(len(str(a)), len(str(b)))
    da, db = str(a).zfill(width)[::-1], str(b).zfill(width)[::-1]
    parts, carry = [], 0
    for i in range(width):
        x, y = int(da[i]), int(db[i])
        if op == "+":
            s = x + y + carry
            parts.append(f"{x}+{y}{'+1' if carry else ''}={s}")
            carry = s // 10
        else:
            v = x - y - carry
            parts.append(f"{x}-{y}{'-1' if carry else ''}={v + 10 if v < 0 else v}")
            carry = int(v < 0)
    return " ".join(parts)


def make_problem(rng: random.Random, level: int, split: str) -> Problem:
    """Draw one problem of a level; amounts stay in 0..999 after every change."""
    n_steps, digits = LEVELS[level]
    lo, hi = 10 ** (digits - 1), 10**digits - 1
    name, pronoun = rng.choice(NAMES)
    item = rng.choice(ITEMS)
    value = rng.randint(lo, hi)
    start, steps, sentences = value, [], []
    for _ in range(n_steps):
        can_add = value + lo <= MAX_VALUE
        can_sub = value >= lo
        op = rng.choice(["+", "-"] if can_add and can_sub else ["+"] if can_add else ["-"])
        n = rng.randint(lo, min(hi, MAX_VALUE - value)) if op == "+" else rng.randint(lo, min(hi, value))
        steps.append((op, n))
        sentences.append(rng.choice(GAIN if op == "+" else LOSS).format(p=pronoun, n=n))
        value = value + n if op == "+" else value - n
    question = " ".join([f"{name} has {start} {item}.", *sentences, f"How many {item} does {name} have now?"])
    pid = hashlib.sha1(f"{split}|{question}".encode()).hexdigest()[:12]
    return Problem(id=pid, level=level, question=question, start=start, steps=tuple(steps), answer=value)


def generate(n: int, levels: dict[int, float], seed: int, split: str,
             exclude: set[str] | frozenset[str] = frozenset()) -> list[Problem]:
    """n distinct problems drawn by level weights; questions in ``exclude`` are never drawn.

    ``exclude`` keeps test questions out of training data (no leakage between splits).
    """
    rng = random.Random(f"{seed}:{split}")
    level_ids, weights = zip(*sorted(levels.items()))
    seen, out = set(exclude), []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 50 * n + 1000:
            raise ValueError(f"cannot draw {n} distinct problems for split {split!r} at levels {levels}")
        p = make_problem(rng, rng.choices(level_ids, weights)[0], split)
        if p.question not in seen:
            seen.add(p.question)
            out.append(p)
    return out
