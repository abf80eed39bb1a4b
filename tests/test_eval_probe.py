"""The probe every training stage is scored on: the toy test split for tiny, unchanged, or the
last problems of a real benchmark's test split, read from where the evaluation reads it."""

import json

import pytest

from cookbook.eval import probe as P
from cookbook.recipe import RecipeError, load_recipe
from cookbook.toy.problems import Problem
from cookbook.toy.prompts import chat_messages

TINY = "name: t\nprofile: tiny\nhardware: cpu\nruntime: 1 min\neval:\n  local: tiny-world\n"
WORKSHOP = "name: w\nprofile: workshop\nhardware: gpu\nruntime: 1 h\n"


def write(tmp_path, text, name="r.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


class StubWorld:
    """The tiny world's problems(split) without building it (test_world covers the real one)."""

    def __init__(self, problems):
        self._problems = problems

    def problems(self, split):
        assert split == "gsm8k_test"
        return list(self._problems)


TOY = [Problem(id=f"p{i}", level=1, question=f"Tom has {i} apples. He buys 2 more. How many apples does Tom have now?",
               start=i, steps=(("+", 2),), answer=i + 2) for i in range(5)]


def gsm8k_folder(root, n, fmt="jsonl"):
    """A stand-in GSM8K folder in the hub's layout (README configs, main/test-*), made-up rows."""
    folder = root / "gsm8k"
    (folder / "main").mkdir(parents=True)
    rows = [{"question": f"What is {i} plus {i}?", "answer": f"{i} + {i} = {2 * i}\n#### {2 * i}"} for i in range(n)]
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), folder / "main" / "test-00000-of-00001.parquet")
        pattern = "main/test-*"
    else:
        (folder / "main" / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        pattern = "main/test.jsonl"
    (folder / "main" / "train.jsonl").write_text(json.dumps({"question": "train?", "answer": "#### 1"}) + "\n")
    (folder / "README.md").write_text("---\nconfigs:\n- config_name: main\n  data_files:\n"
                                      f"  - split: train\n    path: main/train.jsonl\n"
                                      f"  - split: test\n    path: {pattern}\n---\n\nstand-in\n")
    return folder


def test_the_tiny_probe_is_the_toy_test_split_asked_as_before(tmp_path):
    """Byte for byte what notebooks 03-06 scored on before: the same problems, the toy prompt
    (cookbook.toy.prompts.chat_messages), 320 new tokens."""
    for text in (TINY, TINY + "probe:\n  problems: tiny-world:gsm8k_test\n"):
        probe = P.probe(load_recipe(write(tmp_path, text)), world=StubWorld(TOY))
        assert list(probe) == TOY and probe.max_new_tokens == 320 and probe.name == "toy GSM8K test"
        assert [probe.messages(p.question) for p in probe] == [chat_messages(p.question) for p in TOY]
        assert probe.conversations() == [chat_messages(p.question) for p in TOY]
    assert isinstance(probe[:2], P.Probe) and list(probe[:2]) == TOY[:2] and probe[:2].prompt == probe.prompt


@pytest.mark.filterwarnings("ignore:.*are in both")  # 07's 100 problems overlap a 10-problem stand-in
@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_a_benchmark_probe_is_the_last_problems_of_its_test_split(tmp_path, fmt):
    folder = gsm8k_folder(tmp_path, 10, fmt)
    recipe = load_recipe(write(tmp_path, WORKSHOP + f"eval:\n  local: {{gsm8k: {folder}}}\n"
                               "probe:\n  problems: {benchmark: gsm8k, size: 3}\n"))
    probe = P.probe(recipe)
    assert [p.question for p in probe] == [f"What is {i} plus {i}?" for i in (7, 8, 9)]
    assert [p.answer for p in probe] == ["14", "16", "18"]  # the number after ####
    assert [p.id for p in probe] == ["gsm8k/test/7", "gsm8k/test/8", "gsm8k/test/9"]
    assert probe.name == "GSM8K test, last 3" and probe.max_new_tokens == 4096  # the workshop profile's
    assert probe.messages("Q?") == [{"role": "user", "content": recipe.eval.prompt.replace("{question}", "Q?")}]


def test_the_probe_warns_when_07_would_score_its_problems_too(tmp_path):
    folder = gsm8k_folder(tmp_path, 10)
    recipe = load_recipe(write(tmp_path, WORKSHOP + f"eval:\n  local: {{gsm8k: {folder}}}\n  limit: 8\n"
                               "probe:\n  problems: {benchmark: gsm8k, size: 3}\n  max_new_tokens: 64\n"))
    with pytest.warns(UserWarning, match="first 8 of gsm8k's 10 test problems and the probe is the last 3: 1"):
        probe = P.probe(recipe)
    assert probe.max_new_tokens == 64


def test_a_missing_benchmark_folder_names_the_file_and_the_key(tmp_path):
    path = write(tmp_path, WORKSHOP + f"eval:\n  local: {{gsm8k: {tmp_path / 'nowhere'}}}\n")
    with pytest.raises(RecipeError, match=r"r\.yaml: eval\.local: .*gsm8k: benchmark folder not found: .*nowhere"):
        load_recipe(path)


def test_a_folder_without_the_test_split_names_the_file_and_the_key(tmp_path):
    (tmp_path / "gsm8k").mkdir()
    path = write(tmp_path, WORKSHOP + f"eval:\n  local: {{gsm8k: {tmp_path / 'gsm8k'}}}\n")
    with pytest.raises(FileNotFoundError, match=r"r\.yaml: eval\.local\.gsm8k: no main/test split"):
        P.probe(load_recipe(path))


def test_too_few_problems_names_the_key(tmp_path):
    folder = gsm8k_folder(tmp_path, 4)
    path = write(tmp_path, WORKSHOP + f"eval:\n  local: {{gsm8k: {folder}}}\n"
                 "probe:\n  problems: {benchmark: gsm8k, size: 5}\n")
    with pytest.raises(ValueError, match=r"r\.yaml: probe\.problems asks for the last 5 .* has 4 problems"):
        P.probe(load_recipe(path))


def test_an_uncached_hub_benchmark_offline_says_make_download(tmp_path, monkeypatch):
    import cookbook.eval.protocol as protocol

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(protocol, "evalscope_dataset_dir", lambda: tmp_path / "evalscope")
    recipe = load_recipe(write(tmp_path, WORKSHOP))  # no probe section: the last 200 of GSM8K's test split
    with pytest.raises(FileNotFoundError, match=r"r\.yaml: probe\.problems .*make download.*eval\.local\.gsm8k"):
        P.probe(recipe)


@pytest.mark.parametrize("bad, message", [
    ("problems: gsm8k", "a split of the tiny world"),
    ("problems: {benchmark: math_500, size: 10}", "probe.problems"),
    ("problems: {benchmark: gsm8k, size: 0}", "probe.problems"),
    ("max_new_tokens: 0", "probe.max_new_tokens"),
])
def test_a_bad_probe_section_names_the_key(tmp_path, bad, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe(write(tmp_path, TINY + "probe:\n  " + bad + "\n"))


def test_scoring_asks_with_the_probes_prompt_and_tokens(tmp_path, monkeypatch):
    """quick.score: a Probe brings its prompt and budget; plain problems are asked as before."""
    from cookbook.eval import quick

    asked = []
    monkeypatch.setattr(quick, "generate", lambda m, t, conversations, tokens, batch, kwargs=None: asked.append(
        (conversations, tokens)) or ["\\boxed{%d}" % p.answer for p in TOY])
    quick.score(None, None, TOY)
    assert asked[-1] == ([chat_messages(p.question) for p in TOY], 320)
    probe = P.Probe("x", tuple(TOY), "Q: {question} {braces}", 77)
    result = quick.score(None, None, probe)
    assert asked[-1] == ([[{"role": "user", "content": f"Q: {p.question} {{braces}}"}] for p in TOY], 77)
    assert result.accuracy == 1.0 and result.n == 5


def test_the_probes_settings_without_its_problems(tmp_path):
    recipe = load_recipe(write(tmp_path, TINY))
    assert P.settings(recipe) == (recipe.eval.prompt, 320)
    assert P.chat("Q?", recipe.eval.prompt) == chat_messages("Q?")


def test_the_tiny_worlds_probe_and_its_gsm8k_folder_agree(world, tmp_path):
    """With the real tiny world: the probe is its toy test split, and the same split read as a
    benchmark folder (eval.local: tiny-world) gives its last problems, answers included."""
    toy = world.problems("gsm8k_test")
    probe = P.probe(load_recipe(write(tmp_path, TINY)), world=world)
    assert list(probe) == toy and probe.conversations() == [chat_messages(p.question) for p in toy]
    sliced = P.probe(load_recipe(write(tmp_path, TINY + "  limit: 50\nprobe:\n  problems: {benchmark: gsm8k, size: 150}\n")),
                     world=world)
    assert [(p.question, p.answer) for p in sliced] == [(p.question, str(p.answer)) for p in toy[-150:]]


def test_the_probe_carries_the_recipes_thinking_mode_into_in_process_generation(tmp_path, monkeypatch):
    """Qwen3's thinking mode (train.thinking) reaches the chat template of every stage's scorer;
    unset, nothing is passed (the tiny profile renders as before)."""
    from cookbook.eval import quick

    plain = P.probe(load_recipe(write(tmp_path, TINY)), world=StubWorld(TOY))
    thinking = P.probe(load_recipe(write(tmp_path, TINY + "train:\n  thinking: false\n", "t.yaml")), world=StubWorld(TOY))
    assert plain.template_kwargs == {} and thinking.template_kwargs == {"enable_thinking": False}
    assert thinking[:2].template_kwargs == {"enable_thinking": False}  # a slice keeps it
    seen = []

    def fake_generate(model, tokenizer, conversations, max_new_tokens, batch_size, chat_template_kwargs=None):
        seen.append(chat_template_kwargs)
        return ["\\boxed{0}"] * len(conversations)

    monkeypatch.setattr(quick, "generate", fake_generate)
    quick.score(None, None, plain[:2])
    quick.score(None, None, thinking[:2])
    assert seen == [{}, {"enable_thinking": False}]


def test_a_gsm8k_answer_with_thousands_separators_is_read_as_02_reads_ground_truths():
    from cookbook.data.questions import ground_truth

    rows = [{"question": "q", "answer": "steps\n#### 1,234"}, {"question": "r", "answer": "#### 7"}]
    assert [p.answer for p in P.parse_gsm8k(rows, "test.parquet")] == ["1234", "7"]
    assert ground_truth(rows[0]["answer"]) == "1234"
