"""The tiny world: measured accuracies, file formats the real tools read, no leakage."""

import json

import pytest

from cookbook.io import read_jsonl
from cookbook.toy.world import EVAL_SPLITS, WorldSpec


def test_teacher_is_strong_and_student_is_weak(world):
    models = world.info["models"]
    assert models["teacher"]["gsm8k_test_accuracy"] >= 0.90
    assert models["student-base"]["gsm8k_test_accuracy"] <= 0.30
    assert models["student-base"]["parameters"] < models["teacher"]["parameters"]


def test_teacher_follows_the_instructions_constraints_and_the_base_student_does_not(world):
    # Strict prompt-level accuracy on the toy IFEval split, by evalscope's own checkers
    # (cookbook.toy.instructions.check), greedy, measured when the world was built.
    teacher, student = (world.info["models"][m]["ifeval_strict_prompt"] for m in ("teacher", "student-base"))
    assert teacher["all"] >= 0.80 and student["all"] <= 0.20
    for lang in ("en", "zh"):  # both languages, or a student could gain in one only
        assert teacher[lang] >= 0.70 and student[lang] <= 0.25, lang


def test_no_evaluation_instruction_leaks_into_training(world):
    evaluation = {r["prompt"] for r in world.instructions("ifeval")}
    assert len(evaluation) == WorldSpec().instruction_splits["ifeval"]
    for split in ("instructions_train", "teacher_instructions", "student_instructions"):
        rows = world.instructions(split)
        assert {r["lang"] for r in rows} == {"en", "zh"} and not evaluation & {r["prompt"] for r in rows}, split


def test_the_models_weights_are_committed_for_this_worlds_code():
    """A build loads them instead of training for half an hour (CI included): an edit under
    cookbook/toy/ comes with the new data/tiny-world/<hash>/ that `make world` writes, in place
    of the old one."""
    from cookbook.toy.world import MODELS, weights_dir

    name = WorldSpec().fingerprint()
    folders = sorted(p.name for p in weights_dir(name).parent.iterdir() if p.is_dir())
    assert folders == [name], f"data/tiny-world/ holds {folders}, this code's world is {name}: run `make world`"
    trained = json.loads((weights_dir(name) / "training.json").read_text())
    assert set(trained) == set(MODELS)
    for model in MODELS:
        assert (weights_dir(name) / f"{model}.safetensors").stat().st_size > 1_000_000, model
        assert trained[model]["train_seconds"] > 0 and trained[model]["final_loss"] < 2, model


def test_fingerprint_is_stable_and_changes_with_the_spec():
    assert WorldSpec().fingerprint() == WorldSpec().fingerprint()
    assert WorldSpec(seed=1).fingerprint() != WorldSpec().fingerprint()


def test_no_evaluation_question_leaks_into_training(world):
    evaluation = {p.question for s in EVAL_SPLITS for p in world.problems(s)}
    for split in ("gsm8k_train", "teacher_pretrain", "student_pretrain"):
        assert not evaluation & {p.question for p in world.problems(split)}, split


def test_gsm8k_format(world):
    folder = world.benchmark_dir("gsm8k")
    rows = read_jsonl(folder / "main" / "test.jsonl")
    truth = world.problems("gsm8k_test")
    assert len(rows) == len(truth) == 200
    for row, p in zip(rows, truth):
        assert set(row) == {"question", "answer"}
        assert row["answer"].rsplit("####", 1)[1].strip() == str(p.answer)
    header = (folder / "README.md").read_text()
    assert "config_name: main" in header and "path: main/test.jsonl" in header


def test_math500_aime_ifeval_formats(world):
    math = read_jsonl(world.benchmark_dir("math_500") / "test.jsonl")
    assert {"problem", "solution", "answer", "subject", "level", "unique_id"} <= set(math[0])
    assert sorted({r["level"] for r in math}) == [1, 2, 3, 4, 5]
    for name in ("aime24", "aime25"):
        aime = read_jsonl(world.benchmark_dir(name) / "test.jsonl")
        assert len(aime) == 30 and {"problem", "answer"} <= set(aime[0])
    from evalscope.benchmarks.ifeval.instructions_registry import INSTRUCTION_DICT

    ifeval = read_jsonl(world.benchmark_dir("ifeval") / "train.jsonl")
    assert {"key", "prompt", "instruction_id_list", "kwargs"} == set(ifeval[0])
    for row in ifeval:
        for iid, kwargs in zip(row["instruction_id_list"], row["kwargs"]):
            checker = INSTRUCTION_DICT[iid](iid)  # evalscope knows every id we use ...
            checker.build_description(**kwargs)  # ... and accepts its arguments


def test_models_are_plain_qwen2_folders(world):
    from transformers import AutoConfig, AutoTokenizer

    for name in ("teacher", "student-base"):
        folder = world.model_dir(name)
        config = AutoConfig.from_pretrained(folder)
        assert config.model_type == "qwen2"
        tok = AutoTokenizer.from_pretrained(folder)
        assert tok.eos_token == "<|im_end|>"
        assert json.loads((folder / "generation_config.json").read_text())["eos_token_id"] == tok.eos_token_id


def test_ms_swift_qwen2_5_template_renders_our_chat_template(world):
    """What ms-swift trains on is exactly what our chat template (and evalscope) prompts with."""
    from swift import get_processor, get_template

    from cookbook.toy.prompts import chat_messages

    folder = str(world.model_dir("student-base"))
    processor = get_processor(folder, model_type="qwen2", download_model=False)
    template = get_template(processor, template_type="qwen2_5")
    template.set_mode("pt")
    messages = chat_messages("Tom has 12 apples. He buys 30 more. How many apples does Tom have now?")
    ours = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    swift_ids = template.encode({"messages": messages})["input_ids"]
    assert processor.decode(swift_ids) == ours


@pytest.mark.parametrize("name", ["teacher", "student-base"])
def test_recorded_accuracy_reproduces(world, name):
    """The accuracy in world.json is measured, not claimed: re-score 40 problems."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cookbook.eval.quick import score

    folder = world.model_dir(name)
    model = AutoModelForCausalLM.from_pretrained(folder)
    result = score(model, AutoTokenizer.from_pretrained(folder), world.problems("gsm8k_test")[:40])
    recorded = world.info["models"][name]["gsm8k_test_accuracy"]
    assert abs(result.accuracy - recorded) <= 0.2
