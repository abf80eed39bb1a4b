"""Build, cache and load the tiny world: tokenizer, problems, benchmarks, teacher, student.

The world is a pure function of its spec and of the code in cookbook/toy: its folder name
is a hash of both, so a change to either builds a new world and an unchanged one is
loaded from the cache in milliseconds.

Training the two models is the only slow part (about 15 minutes on 2 cores, twice that on
CI's machine), so their weights are committed, like the downloads the real profiles make:
data/tiny-world/<hash>/ holds them for the world of that hash, and a build with them there
writes the data and the tokenizer, loads the weights and measures the models in about a
minute. A build of a world whose weights are not committed (an edit under cookbook/toy/)
trains them and writes them there, to commit in place of the old world's folder.

    python -m cookbook.toy.world            # build if missing, print the summary
    python -m cookbook.toy.world --rebuild  # build again from scratch (the committed weights kept)
    python -m cookbook.toy.world --retrain  # ... and train the models again, rewriting the weights
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import random
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from cookbook.io import atomic_write_json, read_jsonl, write_jsonl
from cookbook.paths import cache_dir, project_root
from cookbook.toy import instructions as ins
from cookbook.toy.models import ModelSpec, TrainSpec
from cookbook.toy.problems import STYLES, Problem

MODELS = ("teacher", "student-base")


def say(message: str) -> None:
    print(message, flush=True)  # flushed: the build is watched live in notebooks and CI logs


@dataclass(frozen=True)
class WorldSpec:
    seed: int = 0
    vocab_size: int = 1024
    # split -> (size, level weights). Evaluation splits come first: training never sees them.
    splits: dict = field(default_factory=lambda: {
        "gsm8k_test": (200, {1: 0.5, 2: 0.5}),
        "math_500": (100, {1: 0.2, 2: 0.2, 3: 0.2, 4: 0.2, 5: 0.2}),
        "aime24": (30, {5: 1.0}),
        "aime25": (30, {5: 1.0}),
        "gsm8k_train": (2000, {1: 0.5, 2: 0.5}),
        "teacher_pretrain": (20000, {1: 0.4, 2: 0.4, 3: 0.2}),
        "student_pretrain": (20000, {1: 0.4, 2: 0.4, 3: 0.2}),
    })
    # Instruction splits (cookbook.toy.instructions), English and Chinese: split -> size.
    # The evaluation split comes first; the others never repeat its prompts.
    instruction_splits: dict = field(default_factory=lambda: {
        "ifeval": 100,                # toy IFEval, in IFEval's format, scored by evalscope's checkers
        "instructions_train": 1000,   # seed instructions for the instruction-following notebook
        "teacher_instructions": 8000,  # the teacher learns to follow the constraints
        "student_instructions": 3000,  # the base student answers the bare tasks, constraints unseen
    })
    vocab_size: int = 1536  # room for Chinese characters beside the arithmetic
    teacher: ModelSpec = ModelSpec(layers=4, hidden=128, heads=4, intermediate=384)
    teacher_training: TrainSpec = TrainSpec(steps=1800, batch_size=32, lr=2e-3)
    student: ModelSpec = ModelSpec(layers=3, hidden=96, heads=4, intermediate=288)
    student_training: TrainSpec = TrainSpec(steps=450, batch_size=32, lr=2e-3)
    # Plain text the base student is pre-trained on besides its chats (loss on every token),
    # like a real base model's web text: chains in every style and instruction-following
    # answers, never as a reply to a question. Every token the teacher writes is then one
    # the student has already predicted, so a LoRA adapter can steer it there; without it
    # the chains' tokens were never its outputs, and its (tied, frozen) output layer kept
    # LoRA at a loss of 3.5-4 at every rank and rate (measured, session 9).
    student_text_docs: int = 8000

    def fingerprint(self) -> str:
        h = hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode())
        for src in sorted(Path(__file__).parent.glob("*.py")):  # the code that builds the world
            h.update(src.read_bytes())
        return h.hexdigest()[:12]


EVAL_SPLITS = ("gsm8k_test", "math_500", "aime24", "aime25")


@dataclass
class World:
    dir: Path
    info: dict

    def model_dir(self, name: str) -> Path:
        if name not in MODELS:
            raise ValueError(f"the tiny world has no model {name!r}; it has {', '.join(MODELS)}")
        return self.dir / "models" / name

    def benchmark_dir(self, name: str) -> Path:
        return self.dir / "benchmarks" / name

    def instructions(self, split: str) -> list[dict]:
        """Rows of an instruction split (cookbook.toy.instructions.Instruction as a dict)."""
        path = self.dir / "instructions" / f"{split}.jsonl"
        if not path.exists():
            raise FileNotFoundError(f"the tiny world has no instruction split {split!r} ({path})")
        return read_jsonl(path)

    def problems(self, split: str) -> list[Problem]:
        path = self.dir / "problems" / f"{split}.jsonl"
        if not path.exists():
            raise FileNotFoundError(f"the tiny world has no split {split!r} ({path})")
        return [_problem_from_row(r) for r in read_jsonl(path)]


def world_dir(spec: WorldSpec) -> Path:
    return cache_dir() / "tiny-world" / spec.fingerprint()


def weights_dir(name: str) -> Path:
    """The committed weights of the world called ``name`` (its fingerprint), with training.json."""
    return project_root() / "data" / "tiny-world" / name


def load_world(spec: WorldSpec | None = None, build_if_missing: bool = True, log=say,
               retrain: bool = False) -> World:
    """The cached world for ``spec``, built first if it is not cached yet (``retrain``: its
    models trained again even where their weights are committed)."""
    spec = spec or WorldSpec()
    folder = world_dir(spec)
    info = folder / "world.json"  # written last: its presence means the build finished
    if not info.exists():
        if not build_if_missing:
            raise FileNotFoundError(f"the tiny world is not built ({folder}); run `make world`")
        from filelock import FileLock

        folder.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder) + ".lock"):  # two processes never build the same world at once
            if not info.exists():
                build_world(spec, folder, log=log, retrain=retrain)
    return World(folder, json.loads(info.read_text()))


def build_world(spec: WorldSpec, folder: Path, log=say, retrain: bool = False) -> World:
    """Build every part of the world into ``folder`` (via a temporary folder, then rename): the
    models' committed weights loaded where data/tiny-world/<name>/ has them, else trained."""
    import torch
    from safetensors.torch import load_model, save_model

    from cookbook.eval.quick import score
    from cookbook.toy import problems as gen
    from cookbook.toy.benchmarks import write_benchmarks
    from cookbook.toy.models import build_model, encode_example, param_count, train_causal_lm
    from cookbook.toy.prompts import USER_SUFFIX, chat_messages, think_response
    from cookbook.toy.tokenizer import DEFAULT_SYSTEM, train_tokenizer

    t_start = time.time()
    tmp = folder.with_name(folder.name + ".building")
    shutil.rmtree(tmp, ignore_errors=True)

    log(f"Building the tiny world {folder.name} (seed {spec.seed})")
    splits: dict[str, list[Problem]] = {}
    taken: set[str] = set()
    for name, (size, levels) in spec.splits.items():
        splits[name] = gen.generate(size, levels, spec.seed, name, exclude=taken)
        if name in EVAL_SPLITS or name == "gsm8k_train":
            taken |= {p.question for p in splits[name]}  # later splits never repeat these
    for name, rows in splits.items():
        write_jsonl(tmp / "problems" / f"{name}.jsonl", [_problem_to_row(p) for p in rows])
    instructions: dict[str, list[ins.Instruction]] = {}
    asked: set[str] = set()
    for name, size in spec.instruction_splits.items():
        instructions[name] = ins.generate(size, spec.seed, name, exclude=frozenset(asked))
        asked |= {i.prompt for i in instructions[name]}
        write_jsonl(tmp / "instructions" / f"{name}.jsonl", [dataclasses.asdict(i) for i in instructions[name]])
    write_benchmarks(tmp / "benchmarks", splits, instructions["ifeval"])

    rng = random.Random(f"{spec.seed}:styles")
    styles, weights = zip(*STYLES.items())
    pool = splits["teacher_pretrain"][:4000]
    said = instructions["teacher_instructions"][:2000] + instructions["student_instructions"][:1000]
    corpus = ([p.question + USER_SUFFIX for p in pool]
              + [think_response(p.cot(style), p.answer) for p in pool for style in styles]
              + [think_response(p.short_cot, p.answer) for p in pool]
              + [text for i in said for text in (i.prompt, i.task, i.response, i.plain)]
              + [f"system\n{DEFAULT_SYSTEM}\nuser\nassistant\n"] * 200)
    tokenizer = train_tokenizer(corpus, spec.vocab_size)
    log(f"  tokenizer: {len(tokenizer)} tokens")

    info: dict = {"name": folder.name, "seed": spec.seed, "spec": dataclasses.asdict(spec), "models": {}}
    def chat(prompt: str, response: str) -> tuple[list[int], int]:
        return encode_example(tokenizer, [{"role": "user", "content": prompt}], response)

    def text(doc: str) -> tuple[list[int], int]:  # loss on every token, as in pre-training
        return tokenizer(doc + "<|endoftext|>", add_special_tokens=False)["input_ids"], 0

    # The teacher reasons column by column, in a style drawn by STYLES for each problem,
    # and follows the instructions' constraints. The base student answers in one line and
    # answers the bare tasks; it has read chains and constrained answers only as text.
    docs = splits["teacher_pretrain"][4000 : 4000 + spec.student_text_docs]
    examples_of = {
        "teacher": lambda: (
            [encode_example(tokenizer, chat_messages(p.question),
                            think_response(p.cot(rng.choices(styles, weights)[0]), p.answer))
             for p in splits["teacher_pretrain"]]
            + [chat(i.prompt, i.response) for i in instructions["teacher_instructions"]]),
        "student-base": lambda: (
            [encode_example(tokenizer, chat_messages(p.question), think_response(p.short_cot, p.answer))
             for p in splits["student_pretrain"]]
            + [chat(i.task, i.plain) for i in instructions["student_instructions"]]
            + [text(think_response(p.cot(styles[k % len(styles)]), p.answer)) for k, p in enumerate(docs)]
            + [text(i.response) for i in instructions["teacher_instructions"][: spec.student_text_docs // 4]]),
    }
    recipes = {"teacher": (spec.teacher, spec.teacher_training), "student-base": (spec.student, spec.student_training)}
    committed = weights_dir(folder.name)
    training_log = committed / "training.json"
    trained = {} if retrain or not training_log.exists() else json.loads(training_log.read_text())
    for name, (model_spec, train_spec) in recipes.items():
        t0 = time.time()
        model = build_model(model_spec, tokenizer, seed=spec.seed)
        weights = committed / f"{name}.safetensors"
        if name in trained and weights.exists():
            load_model(model, weights)  # save_model/load_model: the tied embedding stored once
            model.eval()
            log(f"  {name}: {param_count(model):,} parameters, weights from {weights.relative_to(project_root())} "
                f"(trained {train_spec.steps} steps in {trained[name]['train_seconds']:.0f} s, torch "
                f"{trained[name]['torch']})")
        else:
            examples = examples_of[name]()
            log(f"  {name}: {param_count(model):,} parameters, {train_spec.steps} steps")
            losses = train_causal_lm(model, examples, train_spec, tokenizer.pad_token_id, seed=spec.seed,
                                     log=lambda s, l, el: log(f"    step {s:4d}  loss {l:.4f}  {el:5.0f}s"))
            trained[name] = {"train_seconds": round(time.time() - t0, 1),
                             "final_loss": round(sum(losses[-20:]) / 20, 4), "torch": torch.__version__}
            _commit_weights(model, name, committed, trained, save_model, log)
        train_seconds = trained[name]["train_seconds"]
        gsm8k = score(model, tokenizer, splits["gsm8k_test"])
        by_level = _accuracy_by_level(model, tokenizer, splits["math_500"])
        ifeval = _ifeval_accuracy(model, tokenizer, instructions["ifeval"])
        out = tmp / "models" / name
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        info["models"][name] = {
            "parameters": param_count(model),
            "train_seconds": train_seconds,
            "final_loss": trained[name]["final_loss"],
            "gsm8k_test_accuracy": gsm8k.accuracy,
            "math_500_accuracy_by_level": by_level,
            "ifeval_strict_prompt": ifeval,
            "sample_response": gsm8k.responses[0],
        }
        log(f"  {name}: GSM8K (toy test) accuracy {gsm8k.accuracy:.1%}, IFEval (toy, strict prompt) "
            f"{ifeval['all']:.1%}")

    info["build_seconds"] = round(time.time() - t_start, 1)
    info["versions"] = {"torch": torch.__version__}
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
    atomic_write_json(folder / "world.json", info)
    log(f"Built in {info['build_seconds']:.0f}s: {folder}")
    return World(folder, info)


def _commit_weights(model, name: str, folder: Path, trained: dict, save_model, log) -> None:
    """Write a freshly trained model's weights and the training record to commit, and drop
    the folders of older worlds beside them (git keeps them in its history)."""
    if folder.parent.exists():
        for old in folder.parent.iterdir():
            if old.is_dir() and old.name != folder.name:
                shutil.rmtree(old)
                log(f"  removed the weights of an older world: {old}")
    folder.mkdir(parents=True, exist_ok=True)
    save_model(model, str(folder / f"{name}.safetensors"))
    atomic_write_json(folder / "training.json", trained)
    log(f"  {name}: weights written to {folder} (commit them)")


def _accuracy_by_level(model, tokenizer, problems: list[Problem]) -> dict[str, float]:
    from cookbook.eval.quick import score

    result = {}
    for level in sorted({p.level for p in problems}):
        subset = [p for p in problems if p.level == level]
        result[str(level)] = score(model, tokenizer, subset, max_new_tokens=400).accuracy
    return result


def _ifeval_accuracy(model, tokenizer, rows: list) -> dict[str, float]:
    """Strict prompt-level accuracy of greedy answers, by language and overall (IFEval's checkers)."""
    from cookbook.eval.quick import generate

    answers = generate(model, tokenizer, [[{"role": "user", "content": i.prompt}] for i in rows], max_new_tokens=200)
    passed = [ins.check(i, a) for i, a in zip(rows, answers, strict=True)]
    result = {"all": sum(passed) / len(rows)}
    for lang in sorted({i.lang for i in rows}):
        mine = [ok for i, ok in zip(rows, passed) if i.lang == lang]
        result[lang] = sum(mine) / len(mine)
    return result


def _problem_to_row(p: Problem) -> dict:
    return {"id": p.id, "level": p.level, "question": p.question, "start": p.start,
            "steps": [list(s) for s in p.steps], "answer": p.answer,
            "digit_cot": p.digit_cot, "short_cot": p.short_cot}


def _problem_from_row(r: dict) -> Problem:
    return Problem(id=r["id"], level=r["level"], question=r["question"], start=r["start"],
                   steps=tuple((op, n) for op, n in r["steps"]), answer=r["answer"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rebuild", action="store_true", help="delete the cached world and build it again")
    parser.add_argument("--retrain", action="store_true",
                        help="rebuild, training the models again even where their weights are committed")
    args = parser.parse_args(argv)
    from cookbook.hub import go_offline

    go_offline()
    spec = WorldSpec()
    if args.rebuild or args.retrain:
        shutil.rmtree(world_dir(spec), ignore_errors=True)
    world = load_world(spec, retrain=args.retrain)
    summary = {name: {k: m[k] for k in ("parameters", "gsm8k_test_accuracy", "train_seconds")}
               for name, m in world.info["models"].items()}
    print(json.dumps({"world": str(world.dir), "build_seconds": world.info["build_seconds"], "models": summary},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
