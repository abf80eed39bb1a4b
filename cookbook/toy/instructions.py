"""Instruction-following tasks for the tiny world, in English and Chinese, with verifiable constraints.

An instruction is a bare task ("Write a short note about Tom sharing apples with a friend.")
plus one or two constraints in IFEval's own terms ("In your entire response, refrain from
the use of any commas."), scored by evalscope's own IFEval checkers (:func:`check`). Two
answers are written for every instruction:

* ``plain``: the answer to the bare task, three short sentences. This is the base student's
  way: it is trained on (task, plain) pairs and never sees a constraint, like a base model
  that writes its usual answer whatever the prompt asks of its form.
* ``response``: the same answer, transformed to follow every constraint. This is the
  teacher's way, and what distillation teaches the student.

Everything is kept small and regular so that a model of under a million parameters learns
it from a few thousand examples in minutes on CPU:

* 3 task templates for each of 5 task types and each language, filled with a name and an
  item (the math problems' ``NAMES`` and ``ITEMS``, and their Chinese equivalents); the
  plain answer is a fixed function of the template and the fills;
* every constraint is one simple transformation of the plain answer (lowercase it, drop
  its commas, append the end phrase, wrap it in double quotes, put a ``<<title>>`` line on
  top, make its sentences ``* `` bullet lines, add a ``P.S.`` line, wrap sentences in
  ``*...*``, cut it to one sentence or add two fixed ones), applied in one fixed order, so a
  model learns "this wording -> that transformation";
* the constraints' values (keyword, end phrase, number of bullets) come from a handful each.

Each constraint is chosen so that the plain answer breaks it: plain answers have commas and
capitals, no title, quotes, bullets, P.S. or ``*``, never hold the chosen keyword, never end
with the end phrase, and word limits are set on the far side of the plain answer's length.
So the base student scores near 0% and the teacher near 100% (both measured by the tests).

A language only gets the constraints whose checker means something for it: IFEval's
lowercase check needs langdetect to say "en", its comma check looks for the ASCII comma
only (Chinese uses "，", so it would pass trivially) and its word count splits on ``\\w+``
(a Chinese sentence is one "word"): those three are English-only. None of the checkers used
here needs nltk's punkt data (sentence counting, the one that does, is left out).

The English wording of a constraint is exactly what the IFEval checker's
``build_description`` writes (a test checks it); the Chinese wording is a natural Chinese
sentence asking for the same thing, with the literal values (keyword, end phrase, ``P.S.``,
``<<>>``, ``*``, ``"``) kept as the checker needs them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cookbook.toy.problems import ITEMS, NAMES

NAMES_ZH = {"Tom": "汤姆", "Anna": "安娜", "Lee": "小李", "Mia": "米娅",
            "Sam": "山姆", "Zoe": "佐伊", "Ben": "小本", "Lily": "莉莉"}
ITEMS_ZH = {"apples": "苹果", "stickers": "贴纸", "marbles": "弹珠", "books": "书",
            "coins": "硬币", "cards": "卡片", "pencils": "铅笔", "shells": "贝壳"}

TASK_TYPES: tuple[str, ...] = ("note", "story", "explain", "advice", "describe")

# task type -> templates: (English task, English plain sentences, Chinese task, Chinese plain
# sentences). The two languages say the same thing, so each language is a translation of
# the other and neither is a harder world. Fills: {name} {item} {He} {he} {him} {his}
# ({he} {him} {his} are 他 / 她 and 他的 / 她的 in Chinese). Every English plain answer has a
# comma and starts with a capital; every item is plural ("they", "them"). Every task names
# both the person and the item, so the plain answer is a function of the task (the student
# is trained on task -> plain and would otherwise see one task with several answers).
TASKS: dict[str, tuple[tuple[str, tuple[str, ...], str, tuple[str, ...]], ...]] = {
    "note": (
        ("Write a short note about {name} sharing {item} with a friend.",
         ("{name} has a bag of {item}.", "{He} gives half of them to a friend, and they both smile.",
          "Sharing makes the day better."),
         "写一段关于{name}和朋友分享{item}的短文。",
         ("{name}有一袋{item}。", "{he}把一半分给了朋友，两个人都笑了。", "分享让这一天变得更美好。")),
        ("Write a short note to {name} about {his} {item}.",
         ("Dear {name}, I saw your {item} today.", "They look clean and neat, and I like them a lot.",
          "Please show me again soon."),
         "给{name}写一张便条，说说{his}{item}。",
         ("亲爱的{name}，我今天看到了你的{item}。", "它们又干净又整齐，我很喜欢。", "下次再给我看看吧。")),
        ("Write a short note asking {name} to bring {his} {item} to school.",
         ("Hi {name}, please bring your {item} to school tomorrow.",
          "We want to count them in class, and it will be fun.", "Thank you very much."),
         "写一张便条，请{name}把{his}{item}带到学校。",
         ("{name}你好，明天请把你的{item}带到学校来。", "我们想在课上数一数，一定很有趣。", "非常感谢你。")),
    ),
    "story": (
        ("Write a short story about {name} and some {item}.",
         ("One morning, {name} found some {item} on the way home.", "{He} put them in a box under the bed.",
          "Every night, {he} counted them with a smile."),
         "写一个关于{name}和一些{item}的小故事。",
         ("一天早上，{name}在回家的路上发现了一些{item}。", "{he}把它们放进了床底下的盒子里。",
          "每天晚上，{he}都笑着数一数。")),
        ("Tell a short story about {name} losing {his} {item}.",
         ("One day, {name} could not find {his} {item}.", "{He} looked in the kitchen, the garden and the car.",
          "At last, the {item} were in {his} coat."),
         "讲一个{name}弄丢了{his}{item}的小故事。",
         ("有一天，{name}找不到{his}{item}了。", "{he}找遍了厨房、花园和汽车。", "最后，{item}原来在{his}外套口袋里。")),
        ("Write a short story about {name} winning {item} at a fair.",
         ("At the fair, {name} played a game with rings.", "{He} won a bag of {item} and ran to show {his} mom.",
          "It was the best day of the summer."),
         "写一个{name}在集市上赢到{item}的小故事。",
         ("在集市上，{name}玩了一个套圈游戏。", "{he}赢了一袋{item}，跑去给妈妈看。", "那是整个夏天最开心的一天。")),
    ),
    "explain": (
        ("Explain why {name} keeps {his} {item} in a box.",
         ("{name} keeps {his} {item} in a box, so they stay safe.", "The box keeps out dust and water.",
          "{He} can also find them quickly."),
         "解释一下{name}为什么把{his}{item}放在盒子里。",
         ("{name}把{his}{item}放在盒子里，这样它们就很安全。", "盒子能挡住灰尘和水。", "{he}也能很快找到它们。")),
        ("Explain how {name} can sort {his} {item}.",
         ("First, {name} puts all the {item} on a table.", "Then {he} makes groups by size, from small to big.",
          "Last, {he} puts each group in a bag."),
         "解释一下{name}可以怎样整理{his}{item}。",
         ("首先，{name}把所有{item}都摆在桌子上。", "然后，{he}按大小从小到大分好组。", "最后，{he}把每组分别装进袋子里。")),
        ("Explain why {name} likes collecting {item}.",
         ("{name} likes collecting {item}, because each one is a little different.",
          "{He} enjoys looking at them after school.", "It also helps {him} make new friends."),
         "解释一下{name}为什么喜欢收集{item}。",
         ("{name}喜欢收集{item}，因为每一个都有点不一样。", "放学后，{he}喜欢拿出来看看。", "这也让{he}交到了新朋友。")),
    ),
    "advice": (
        ("Give {name} some advice about saving {item}.",
         ("{name}, try to keep a few {item} each week.", "Put them in a jar, and do not use them all at once.",
          "Soon you will have many."),
         "给{name}一些关于攒{item}的建议。",
         ("{name}，试着每周存下一些{item}。", "把它们放进罐子里，不要一下子全用掉。", "很快你就会有很多了。")),
        ("Give {name} advice on sharing {item} with a little brother.",
         ("{name}, share your {item} with your brother, one at a time.", "Let him choose first sometimes.",
          "Kind words help a lot."),
         "给{name}一些建议，说说怎样和弟弟分享{item}。",
         ("{name}，和弟弟分享{item}时，可以轮流来。", "有时候让弟弟先挑。", "说几句好听的话会很有用。")),
        ("Give {name} tips for taking care of {his} {item}.",
         ("{name}, keep your {item} in a dry place.", "Clean them once a week, and put them back after use.",
          "Do not leave them on the floor."),
         "给{name}一些保管{item}的小建议。",
         ("{name}，把你的{item}放在干燥的地方。", "每周清理一次，用完就放回原处。", "不要把它们丢在地上。")),
    ),
    "describe": (
        ("Describe {name}'s collection of {item}.",
         ("{name} has a big collection of {item}.", "Some are old, some are new, and a few are very rare.",
          "{He} keeps them on a shelf."),
         "描述一下{name}收藏的{item}。",
         ("{name}收藏了很多{item}。", "有的旧，有的新，还有一些非常少见。", "{he}把它们摆在架子上。")),
        ("Describe the box where {name} keeps {his} {item}.",
         ("The box is small, blue and made of wood.", "{name} keeps {his} {item} inside it.",
          "There is a little lock on the front."),
         "描述一下{name}用来装{item}的盒子。",
         ("这个盒子小小的，是蓝色的木盒。", "{name}把{his}{item}放在里面。", "盒子前面有一把小锁。")),
        ("Describe a day when {name} gets new {item}.",
         ("On Saturday, {name} gets new {item} from {his} uncle.", "{He} looks at each one for a long time.",
          "Then {he} puts them away with care."),
         "描述{name}收到新{item}的那一天。",
         ("星期六，{name}从叔叔那里收到了新的{item}。", "{he}把每一个都看了很久。", "然后，{he}小心地把它们收好。")),
    ),
}

# The title a response puts on top, one per task type (English in title case).
TITLES = {
    "note": ("A Note about {Item}", "关于{item}的短文"),
    "story": ("{name} and the {Item}", "{name}和{item}"),
    "explain": ("{Item} Explained", "说说{item}"),
    "advice": ("Advice for {name}", "给{name}的建议"),
    "describe": ("{name}'s {Item}", "{name}的{item}"),
}

# Fixed sentences the transformations add. EXTRA lengthens an English answer ("at least N
# words") and fills a fourth bullet; the keyword and P.S. sentences carry their literal.
EXTRA = {"en": ("The {item} are a small thing, but they bring joy.", "Everyone can learn from this."),
         "zh": ("这些{item}虽然很小，却带来了快乐。",)}
KEYWORD_SENTENCE = {"en": "This is also a lesson in {keyword}.", "zh": "这件小事也关乎{keyword}。"}
POSTSCRIPT = {"en": "P.S. I hope you enjoy the {item}.", "zh": "P.S. 希望你喜欢这些{item}。"}

# Keywords are matched by IFEval as a case-insensitive regex anywhere in the text, so none of
# them is a word (or part of a word) a plain answer uses; generate() checks it anyway.
KEYWORDS = {"en": ("patience", "kindness", "friendship", "courage", "honesty", "teamwork", "curiosity", "gratitude"),
            "zh": ("耐心", "善良", "友谊", "勇气", "诚实", "合作", "好奇心", "感恩")}
# The first two English ones are IFEval's own (its _ENDING_OPTIONS).
END_PHRASES = {"en": ("Any other questions?", "Is there anything else I can help with?", "Have a nice day!",
                      "That is all for now."),
               "zh": ("还有其他问题吗？", "祝你今天愉快！", "就写到这里。", "希望对你有帮助。")}
BULLETS = (2, 3, 4)      # a plain answer has 3 sentences; EXTRA gives a 4th
HIGHLIGHTS = (1, 2, 3)   # at most the 3 sentences of a plain answer

NO_COMMA = "punctuation:no_comma"
LOWERCASE = "change_case:english_lowercase"
KEYWORD = "keywords:existence"
WORDS = "length_constraints:number_words"
HIGHLIGHT = "detectable_format:number_highlighted_sections"
BULLET = "detectable_format:number_bullet_lists"
TITLE = "detectable_format:title"
POSTSCRIPT_ID = "detectable_content:postscript"
END = "startend:end_checker"
QUOTATION = "startend:quotation"

# The order in which constraints are listed in a prompt and applied to the answer: content
# first, then layout, then case and quotes over the whole text. One order, so that the
# same pair of constraints always reads and transforms the same way. Bullets come last in
# the prompt because IFEval's bullet wording ends with a two-line example.
ORDER = (KEYWORD, WORDS, HIGHLIGHT, TITLE, POSTSCRIPT_ID, END, NO_COMMA, LOWERCASE, QUOTATION, BULLET)
KINDS = {
    "en": ORDER,
    "zh": (KEYWORD, HIGHLIGHT, TITLE, POSTSCRIPT_ID, END, QUOTATION, BULLET),  # see the module docstring
}

# Pairs never given together. IFEval's conflict table (evalscope's INSTRUCTION_CONFLICTS) has
# one among these kinds, quotation with title; the others are ours, where one transformation
# would undo the other in IFEval's checkers: a line starting '"*' is no bullet; "* *a*" counts
# as a highlight "* *" that is empty; a word limit fights a fixed number of bullets or highlights;
# and "less than N words" leaves one lowercase sentence, on which the lowercase check's
# langdetect is a coin toss (measured: "dear lee, i saw your pencils today." -> ca 0.43, en 0.43).
CONFLICTS = frozenset(frozenset(p) for p in [
    (QUOTATION, TITLE), (BULLET, QUOTATION), (BULLET, HIGHLIGHT), (BULLET, WORDS), (HIGHLIGHT, WORDS),
    (LOWERCASE, WORDS),
])


@dataclass(frozen=True)
class Instruction:
    """One instruction-following task, its constraints and its two answers."""

    key: int                 # unique within its split, 1-based
    lang: str                # "en" or "zh"
    task_type: str           # one of TASK_TYPES
    task: str                # the bare instruction, no constraints
    prompt: str              # task + the wording of each constraint
    instruction_id_list: tuple[str, ...]   # IFEval instruction ids
    kwargs: tuple[dict, ...]               # one kwargs dict per id, as in IFEval's input_data.jsonl
    response: str            # follows every constraint (the teacher's answer)
    plain: str               # answers the bare task, ignores the constraints (the base student's answer)


def wording(lang: str, instruction_id: str, kwargs: Mapping) -> str:
    """How the prompt asks for a constraint: IFEval's sentence in English, a Chinese one in Chinese."""
    if lang == "en":  # exactly the checkers' build_description (tests/test_toy_instructions.py)
        return {
            NO_COMMA: lambda k: "In your entire response, refrain from the use of any commas.",
            LOWERCASE: lambda k: ("Your entire response should be in English, and in all lowercase letters. "
                                  "No capital letters are allowed."),
            KEYWORD: lambda k: f"Include keywords {sorted(k['keywords'])} in the response.",
            WORDS: lambda k: f"Answer with {k['relation']} {k['num_words']} words.",
            HIGHLIGHT: lambda k: (f"Highlight at least {k['num_highlights']} sections in your answer with "
                                  "markdown, i.e. *highlighted section*."),
            TITLE: lambda k: "Your answer must contain a title, wrapped in double angular brackets, such as <<poem of joy>>.",
            POSTSCRIPT_ID: lambda k: f"At the end of your response, please explicitly add a postscript starting with {k['postscript_marker']}",
            END: lambda k: f"Finish your response with this exact phrase {k['end_phrase']}. No other words should follow this phrase.",
            QUOTATION: lambda k: "Wrap your entire response with double quotation marks.",
            BULLET: lambda k: (f"Your answer must contain exactly {k['num_bullets']} bullet points. "
                               "Use the markdown bullet points such as:\n* This is point 1. \n* This is point 2"),
        }[instruction_id](kwargs)
    return {
        KEYWORD: lambda k: f"回答中必须包含关键词“{k['keywords'][0]}”。",
        HIGHLIGHT: lambda k: f"请用 markdown 突出显示回答中的至少 {k['num_highlights']} 个部分，例如 *突出显示的部分*。",
        TITLE: lambda k: "回答必须有一个标题，用双尖括号括起来，例如 <<快乐之歌>>。",
        POSTSCRIPT_ID: lambda k: f"在回答的最后，请加上一段以 {k['postscript_marker']} 开头的附言。",
        END: lambda k: f"回答必须以“{k['end_phrase']}”这句话结尾，后面不要再写任何内容。",
        QUOTATION: lambda k: '请用双引号（"）把整个回答括起来。',
        BULLET: lambda k: (f"回答必须恰好包含 {k['num_bullets']} 个要点，使用 markdown 列表，例如：\n"
                           "* 这是第一点。\n* 这是第二点。"),
    }[instruction_id](kwargs)


def count_words(text: str) -> int:
    """Words as IFEval counts them (nltk's RegexpTokenizer(r'\\w+'), which needs no nltk data)."""
    return len(re.findall(r"\w+", text))


def render(lang: str, sentences: list[str], fills: dict, constraints: dict[str, dict]) -> str:
    """The plain answer's sentences, transformed to follow ``constraints`` (id -> kwargs), in ORDER."""
    space = " " if lang == "en" else ""
    sentences = list(sentences)
    words = constraints.get(WORDS)
    if words and words["relation"] == "less than":
        sentences = sentences[:1]  # the first sentence alone still answers the task
    elif words:
        sentences += [s.format(**fills) for s in EXTRA["en"]]
    keyword = constraints.get(KEYWORD)
    keyword_line = KEYWORD_SENTENCE[lang].format(keyword=keyword["keywords"][0]) if keyword else None
    if BULLET in constraints:
        # n bullet lines from the answer's sentences (a 4th from EXTRA); the keyword on a line of its own
        points = (sentences + [s.format(**fills) for s in EXTRA[lang]])[: constraints[BULLET]["num_bullets"]]
        lines = [f"* {s}" for s in points] + ([keyword_line] if keyword_line else [])
    else:
        if keyword_line:
            sentences.append(keyword_line)
        if HIGHLIGHT in constraints:
            n = constraints[HIGHLIGHT]["num_highlights"]
            # Chinese sentences run on without spaces; one after each highlight keeps "*a。* *b。*"
            # from reading as "**" (markdown's bold) to the eye, though IFEval counts both alike.
            sentences = [f"*{s}* " if lang == "zh" else f"*{s}*" for s in sentences[:n]] + sentences[n:]
            sentences[-1] = sentences[-1].rstrip(" ")
        lines = [space.join(sentences)]
    if TITLE in constraints:
        lines.insert(0, f"<<{TITLES[fills['task_type']][0 if lang == 'en' else 1].format(**fills)}>>")
    if POSTSCRIPT_ID in constraints:
        lines.append(POSTSCRIPT[lang].format(**fills))
    if END in constraints:
        lines[-1] += space + constraints[END]["end_phrase"]
    text = "\n".join(lines)
    if NO_COMMA in constraints:
        text = text.replace(",", "")
    if LOWERCASE in constraints:
        text = text.lower()
    if QUOTATION in constraints:
        text = f'"{text}"'
    return text


def make_instruction(rng: random.Random, lang: str, key: int) -> Instruction | None:
    """Draw one instruction; None when the draw cannot be made to work (the caller draws again)."""
    task_type = rng.choice(TASK_TYPES)
    template = rng.choice(TASKS[task_type])
    name, pronoun = rng.choice(NAMES)
    item = rng.choice(ITEMS)
    if lang == "en":
        he = pronoun
        fills = {"name": name, "item": item, "Item": item.capitalize(), "He": he, "he": he.lower(),
                 "him": "him" if he == "He" else "her", "his": "his" if he == "He" else "her"}
        task_t, plain_t = template[0], template[1]
    else:
        he = "他" if pronoun == "He" else "她"
        fills = {"name": NAMES_ZH[name], "item": ITEMS_ZH[item], "He": he, "he": he, "him": he, "his": he + "的"}
        task_t, plain_t = template[2], template[3]
    fills["task_type"] = task_type
    task = task_t.format(**fills)
    sentences = [s.format(**fills) for s in plain_t]
    plain = (" " if lang == "en" else "").join(sentences)

    kinds = KINDS[lang]
    chosen = [rng.choice(kinds)]
    if rng.random() < 0.5:
        chosen.append(rng.choice([k for k in kinds if k not in chosen and frozenset((k, chosen[0])) not in CONFLICTS]))
    constraints: dict[str, dict] = {}
    for kind in sorted(chosen, key=ORDER.index):
        if kind == KEYWORD:  # never one the plain answer already holds (IFEval searches case-insensitively)
            options = [k for k in KEYWORDS[lang] if k.lower() not in plain.lower()]
            constraints[kind] = {"keywords": [rng.choice(options)]}
        elif kind == WORDS:
            constraints[kind] = {"relation": rng.choice(("less than", "at least")), "num_words": 0}
        elif kind == HIGHLIGHT:
            constraints[kind] = {"num_highlights": rng.choice(HIGHLIGHTS)}
        elif kind == BULLET:
            constraints[kind] = {"num_bullets": rng.choice(BULLETS)}
        elif kind == POSTSCRIPT_ID:
            constraints[kind] = {"postscript_marker": "P.S."}
        elif kind == END:
            constraints[kind] = {"end_phrase": rng.choice(END_PHRASES[lang])}
        else:
            constraints[kind] = {}
    response = render(lang, sentences, fills, constraints)
    if WORDS in constraints:
        # The limit lies between the response's length and the plain answer's, on a multiple
        # of 5 where one fits (round numbers, as people write them): the response meets it and
        # the plain answer does not, whatever it is combined with.
        have, plain_words = count_words(response), count_words(plain)
        if constraints[WORDS]["relation"] == "less than":
            span = range(have + 1, plain_words + 1)      # have < N <= plain_words
        else:
            span = range(plain_words + 1, have + 1)      # plain_words < N <= have
        if not span:
            return None
        round_ = [v for v in span if v % 5 == 0]
        constraints[WORDS]["num_words"] = rng.choice(round_ or list(span))
    ids = tuple(constraints)
    kwargs = tuple(constraints[k] for k in ids)
    space = " " if lang == "en" else ""
    prompt = space.join([task, *(wording(lang, k, kw) for k, kw in zip(ids, kwargs))])
    return Instruction(key=key, lang=lang, task_type=task_type, task=task, prompt=prompt,
                       instruction_id_list=ids, kwargs=kwargs, response=response, plain=plain)


def generate(n: int, seed: int, split: str, langs: tuple[str, ...] = ("en", "zh"),
             exclude: frozenset[str] = frozenset()) -> list[Instruction]:
    """n instructions with distinct prompts, the languages alternating; prompts in ``exclude`` never drawn.

    Deterministic for (seed, split). ``exclude`` keeps the evaluation prompts out of the
    training splits: they share templates, never whole prompts.
    """
    for lang in langs:
        if lang not in KINDS:
            raise ValueError(f"unknown language {lang!r}: the toy instructions are written in {sorted(KINDS)}")
    rng = random.Random(f"{seed}:{split}")
    seen, out = set(exclude), []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 50 * n + 1000:
            raise ValueError(f"cannot draw {n} distinct instructions for split {split!r} in {langs}")
        i = make_instruction(rng, langs[len(out) % len(langs)], key=len(out) + 1)
        if i is not None and i.prompt not in seen:
            seen.add(i.prompt)
            out.append(i)
    return out


def _get(i: Instruction | Mapping, name: str):
    # An Instruction, or the dict a world's instruction split or an IFEval row holds
    return i[name] if isinstance(i, Mapping) else getattr(i, name)


def ifeval_row(i: Instruction | Mapping) -> dict:
    """The instruction as a row of IFEval's input_data.jsonl (what evalscope's ifeval adapter reads)."""
    return {"key": _get(i, "key"), "prompt": _get(i, "prompt"),
            "instruction_id_list": list(_get(i, "instruction_id_list")),
            "kwargs": [dict(k) for k in _get(i, "kwargs")]}


def check(i: Instruction | Mapping, text: str) -> bool:
    """Strict prompt-level IFEval: every constraint of ``i`` holds on ``text``, by evalscope's own checkers."""
    from evalscope.benchmarks.ifeval.utils import InputExample, test_instruction_following_strict

    row = ifeval_row(i)
    return test_instruction_following_strict(InputExample(**row), text).follow_all_instructions
