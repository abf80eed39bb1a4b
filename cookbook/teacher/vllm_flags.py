"""``vllm serve`` command lines checked against vLLM's own argument parser, before a GPU runs them.

Where vLLM is installed (a GPU machine) :func:`check_serve` parses the line with vLLM's own
parser (``vllm.entrypoints.launchers.cli_args.make_arg_parser``, what ``vllm serve`` uses).
Elsewhere (CI, these CPU machines) it checks the line against ``vllm_flags.txt`` beside this
file: every option ``vllm serve`` accepts, whether it takes a value, its choices where it has
them, and the registered ``--reasoning-parser`` names, taken from the vLLM release pinned in
constraints/gpu.txt (the file's first line names it). A flag that vLLM renamed or dropped,
a switch given a value, or a reasoning parser vLLM does not know then fails in a test on a
CPU, not after a 15 GB download on a GPU.

Regenerate the list where vLLM imports (``python -m cookbook.teacher.vllm_flags --write``);
a test fails when the list's version and constraints/gpu.txt's pin disagree.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

FLAGS_FILE = Path(__file__).with_name("vllm_flags.txt")


@dataclass(frozen=True)
class Option:
    """One option of ``vllm serve``: its names, whether it takes values, and its choices (None: any)."""

    names: tuple[str, ...]
    takes_value: bool
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class FlagList:
    version: str
    options: dict[str, Option]  # every name of every option (aliases and --no-... forms included)
    reasoning_parsers: tuple[str, ...]


def load(path: Path = FLAGS_FILE) -> FlagList:
    """``vllm_flags.txt``: ``# vllm <version>`` first, ``# reasoning-parsers: a b ...``, then one option a
    line: its names joined by ``|``, ``VALUE`` if it takes one, and ``{a,b,c}`` for its choices."""
    version, parsers, options = "", (), {}
    for line in path.read_text().splitlines():
        if line.startswith("# vllm "):
            version = line.split()[2].rstrip(":")
        elif line.startswith("# reasoning-parsers:"):
            parsers = tuple(line.split(":", 1)[1].split())
        elif line and not line.startswith("#"):
            fields = line.split()
            choices = next((tuple(f[1:-1].split(",")) for f in fields if f.startswith("{")), None)
            option = Option(tuple(fields[0].split("|")), "VALUE" in fields, choices)
            options |= {name: option for name in option.names}
    if not version:
        raise ValueError(f"{path}: no '# vllm <version>' line")
    return FlagList(version, options, parsers)


def _normalise(flag: str) -> str:
    """vLLM's FlexibleArgumentParser takes --max_model_len for --max-model-len."""
    return flag.replace("_", "-") if flag.startswith("--") else flag


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def serve_args(command: Sequence[str]) -> list[str]:
    """What follows ``serve`` in a ``vllm serve ...`` command (the console script's path may differ)."""
    command = list(command)
    for i, word in enumerate(command[:-1]):
        if Path(word).name == "vllm" and command[i + 1] == "serve":
            return command[i + 2:]
    raise ValueError(f"not a vllm serve command: {' '.join(command)}")


def check_against_list(args: Sequence[str], flags: FlagList | None = None) -> list[str]:
    """The problems of ``vllm serve``'s arguments against the kept list (empty: none). Stricter than
    argparse in one way: an option must be named in full (vLLM's parser also takes an unambiguous
    prefix, ``--tensor-parallel`` for ``--tensor-parallel-size``, which the next release may make
    ambiguous)."""
    flags = flags or load()
    problems, args = [], list(args)
    if args and not args[0].startswith("-"):
        args = args[1:]  # the model, vllm serve's one positional argument
    i = 0
    while i < len(args):
        word = args[i]
        if not word.startswith("-"):
            problems.append(f"{word!r} follows no option that takes a value")
            i += 1
            continue
        name, _, inline = word.partition("=")
        option = flags.options.get(_normalise(name))
        j = i + 1
        while j < len(args) and not args[j].startswith("-"):  # the words that follow it, its values if any
            j += 1
        if option is None:
            problems.append(f"{name}: not an option of vllm serve {flags.version}")
            i = j
            continue
        values = [inline] if inline else args[i + 1:j]
        if option.takes_value and not inline and j == i + 1 and j < len(args) and _is_number(args[j]):
            values, j = [args[j]], j + 1  # a negative number is a value, not an option
        if option.takes_value and not values:
            problems.append(f"{name} takes a value; none given")
        if not option.takes_value and values:
            problems.append(f"{name} is a switch: it takes no value")
        if option.choices is not None:
            problems += [f"{name} {v}: not one of {', '.join(option.choices)}" for v in values
                         if v not in option.choices]
        if _normalise(name) == "--reasoning-parser" and flags.reasoning_parsers:
            problems += [f"--reasoning-parser {v}: vllm {flags.version} registers no such parser" for v in values
                         if v not in flags.reasoning_parsers]
        i = j
    return problems


def vllm_parser() -> argparse.ArgumentParser | None:
    """vLLM's own ``vllm serve`` parser, or None where vLLM cannot be imported (no GPU build here)."""
    try:
        from vllm.entrypoints.launchers.cli_args import make_arg_parser
        from vllm.utils.argparse_utils import FlexibleArgumentParser
    except Exception:  # noqa: BLE001 - not installed, or a build this machine cannot load
        return None
    return make_arg_parser(FlexibleArgumentParser(prog="vllm serve"))


def check_with_vllm(args: Sequence[str], parser: argparse.ArgumentParser) -> list[str]:
    """The problems vLLM's own parser finds (argparse's message), empty when it accepts the line."""
    from contextlib import redirect_stderr
    from io import StringIO

    err = StringIO()
    try:
        with redirect_stderr(err):
            parser.parse_args(list(args))
    except SystemExit:
        return [err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else "rejected"]
    return []


def check_serve(command: Sequence[str]) -> list[str]:
    """A ``vllm serve`` command's problems: vLLM's own parser where it imports, else the kept list."""
    args = serve_args(command)
    parser = vllm_parser()
    return check_with_vllm(args, parser) if parser is not None else check_against_list(args)


# ---------------------------------------------------------------- regenerating the list

def dump(parser: argparse.ArgumentParser, version: str, reasoning_parsers: Sequence[str]) -> str:
    lines = [f"# vllm {version}: the options of `vllm serve` (vllm.entrypoints.launchers.cli_args.make_arg_parser)",
             "# written by `python -m cookbook.teacher.vllm_flags --write`; read by cookbook.teacher.vllm_flags",
             f"# reasoning-parsers: {' '.join(sorted(reasoning_parsers))}"]
    for action in sorted((a for a in parser._actions if a.option_strings), key=lambda a: a.option_strings[0]):
        if isinstance(action, argparse._HelpAction):
            continue
        line = "|".join(action.option_strings) + (" VALUE" if action.nargs != 0 else "")
        if action.choices is not None and action.nargs != 0:
            line += " {" + ",".join(str(c) for c in action.choices) + "}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help=f"rewrite {FLAGS_FILE.name} from the installed vLLM")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="check a `vllm serve ...` command instead")
    a = ap.parse_args(argv)
    if a.write:
        parser = vllm_parser()
        if parser is None:
            print("vLLM does not import here: regenerate the list where it is installed", file=sys.stderr)
            return 1
        import vllm
        from vllm.reasoning import ReasoningParserManager

        FLAGS_FILE.write_text(dump(parser, vllm.__version__, ReasoningParserManager.list_registered()))
        print(f"wrote {FLAGS_FILE} (vllm {vllm.__version__})")
        return 0
    problems = check_serve(a.command)
    print("\n".join(problems) or "accepted")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
