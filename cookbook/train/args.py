"""ms-swift command-line flags built from the recipe: no hand-typed command strings.

Each field of a recipe's training section maps to one ms-swift 4.6 flag; this module is
the one place that knows the mapping, so the notebooks only say *which* run to launch:

    flags = sft_flags(recipe.sft.full, recipe.train, model=..., dataset=..., output_dir=..., seed=42)

The flags come back as a list (``["--model", "/path", "--tuner_type", "full", ...]``)
ready for a subprocess; :func:`shell_command` renders them as the ``swift sft ...`` line
a reader can paste into a terminal.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from pathlib import Path

from cookbook.recipe import DPORun, GRPORun, TrainRun, TrainShared

PLUGIN_DIR = Path(__file__).resolve().parent / "plugins"
# The cookbook's DeepSpeed configurations, one JSON file per preset name a recipe may give
# (train.deepspeed / <run>.deepspeed); each says in its "_comment" what it is for and its
# published memory. ms-swift gets the file's path, not its own preset of the same name, so
# the configuration a run used is the one in this repository, whatever ms-swift ships.
DEEPSPEED_DIR = Path(__file__).resolve().parent / "deepspeed"
DEEPSPEED_PRESETS = ("zero2", "zero2_offload", "zero3", "zero3_offload")
# Fields of the stage-specific runs that their own flag builders pass (or map) themselves.
_STAGE_FIELDS = {"beta", "rpo_alpha", "num_generations", "max_completion_length", "temperature", "reward_funcs",
                 "reward_weights", "soft_max_length", "soft_cache_length", "lmbda", "sft_alpha", "gkd_logits_topk"}
# Reward names of the recipe -> the names cookbook's plugin registers in ms-swift's `orms`.
REWARD_FUNCS = {"accuracy": "cookbook_accuracy", "format": "cookbook_format", "overlong": "cookbook_overlong"}
# With train.thinking on, the format reward also takes a completion that starts inside the
# reasoning (the chat template put <think> in the prompt): cookbook.train.rewards.is_well_formed.
THINKING_REWARD_FUNCS = REWARD_FUNCS | {"format": "cookbook_format_thinking"}


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _flags(pairs: dict) -> list[str]:
    out: list[str] = []
    for key, value in pairs.items():
        if value is None:
            continue
        out.append(f"--{key}")
        if isinstance(value, list | tuple):
            out += [_value(v) for v in value]
        else:
            out.append(_value(value))
    return out


def common_flags(run: TrainRun, shared: TrainShared, *, model: str | Path, dataset: str | Path,
                 output_dir: str | Path, seed: int, name: str) -> dict:
    """The flags every training command shares (as an ordered dict; None = not given)."""
    deepspeed = deepspeed_config(run.deepspeed or shared.deepspeed)
    flags = {
        "model": str(model),
        "model_type": shared.model_type,
        "template": shared.template,
        # Qwen3's thinking mode: ms-swift's template decides the response prefix of rollouts (GRPO,
        # GKD) and deploy by it; its qwen3 template defaults to off (an empty <think></think> prefix).
        "enable_thinking": shared.thinking,
        "check_model": False,  # else ms-swift asks the hub whether a local model is the latest (7 s offline)
        "dataset": str(dataset),
        "output_dir": str(output_dir),
        "add_version": False,  # a fixed folder: that is what lets a re-run find its checkpoints and resume
        "torch_dtype": shared.torch_dtype,
        "seed": seed,
        "data_seed": seed,
        "dataloader_num_workers": shared.dataloader_workers,
        "deepspeed": deepspeed,
    }
    # The run's own fields are ms-swift's flags by name (cookbook.recipe.RunBase).
    own = run.model_dump(exclude={"deepspeed", "extra", *_STAGE_FIELDS})
    if run.max_steps:
        own["num_train_epochs"] = None  # max_steps decides
    if run.tuner_type != "lora":
        for key in ("lora_rank", "lora_alpha", "target_modules"):
            own.pop(key)
    flags |= own
    flags |= swanlab_flags(shared, name)
    return flags


def deepspeed_config(deepspeed: str | None) -> str | None:
    """The DeepSpeed JSON file ms-swift gets (``--deepspeed <path>``): a preset name's file under
    cookbook/train/deepspeed/, or the recipe's own JSON file; None without DeepSpeed."""
    if not deepspeed:
        return None
    if deepspeed in DEEPSPEED_PRESETS:
        return str(DEEPSPEED_DIR / f"{deepspeed}.json")
    if not Path(deepspeed).is_file():
        raise ValueError(f"deepspeed: {deepspeed!r} is neither one of {', '.join(DEEPSPEED_PRESETS)} "
                         f"(cookbook/train/deepspeed/) nor an existing JSON file; for another ZeRO stage, "
                         f"copy one of those files and give its path")
    return str(Path(deepspeed).resolve())


def swanlab_flags(shared: TrainShared, name: str) -> dict:
    """SwanLab reporting: ms-swift's own integration for cloud and local; a cookbook
    callback for offline, because ms-swift 4.6 accepts only --swanlab_mode cloud|local."""
    if shared.swanlab == "disabled":
        return {"report_to": "none"}
    if shared.swanlab == "offline":
        return {"report_to": "none", "callbacks": "cookbook_swanlab_offline"}
    if shared.swanlab == "cloud" and not os.environ.get("SWANLAB_API_KEY"):
        raise RuntimeError("train.swanlab is 'cloud' but SWANLAB_API_KEY is not set: export it before starting "
                           "JupyterLab (never paste it into a notebook), or choose offline / local / disabled")
    return {"report_to": "swanlab", "swanlab_mode": shared.swanlab, "swanlab_project": shared.swanlab_project,
            "swanlab_exp_name": name}


def plugins_for(shared: TrainShared, *names: str) -> list[str]:
    """The cookbook plugin files a command loads with --external_plugins."""
    files = list(names) + (["swanlab_offline"] if shared.swanlab == "offline" else [])
    return [str(PLUGIN_DIR / f"{n}_plugin.py") for n in files]


def finish_flags(flags: dict, run: TrainRun, plugins: list[str]) -> list[str]:
    """The flag list: the plugins, then the recipe's `extra` flags (which may not override its own fields)."""
    if plugins:
        flags["external_plugins"] = plugins
    clash = sorted(k for k in run.extra if flags.get(k) is not None)
    if clash:
        raise ValueError(f"extra: {', '.join(clash)} is set by the recipe's own fields; change it there")
    return _flags(flags | dict(run.extra))


def sft_flags(run: TrainRun, shared: TrainShared, **kw) -> list[str]:
    """Flags of ``swift sft`` (black-box distillation on the teacher's replies)."""
    return finish_flags(common_flags(run, shared, **kw), run, plugins_for(shared))


def dpo_flags(run: DPORun, shared: TrainShared, *, cogpo: bool = False, **kw) -> list[str]:
    """Flags of ``swift rlhf --rlhf_type dpo``; with cogpo, each pair's beta comes from the data."""
    flags = {"rlhf_type": "dpo"} | common_flags(run, shared, **kw)
    flags |= {"beta": run.beta, "rpo_alpha": run.rpo_alpha}
    if cogpo:  # ms-swift drops columns it does not know for DPO unless told: keep each row's beta
        flags["remove_unused_columns"] = False
    return finish_flags(flags, run, plugins_for(shared, *(["cogpo"] if cogpo else [])))


def grpo_flags(run: GRPORun, shared: TrainShared, **kw) -> list[str]:
    """Flags of ``swift rlhf --rlhf_type grpo`` with cookbook's verifiable rewards."""
    flags = {"rlhf_type": "grpo"} | common_flags(run, shared, **kw)
    flags |= {
        "reward_funcs": [(THINKING_REWARD_FUNCS if shared.thinking else REWARD_FUNCS)[r] for r in run.reward_funcs],
        "reward_weights": run.reward_weights,
        "num_generations": run.num_generations,
        "max_completion_length": run.max_completion_length,
        "temperature": run.temperature,
        "beta": run.beta,
    }
    if "overlong" in run.reward_funcs:
        if run.soft_cache_length >= run.soft_max_length:
            raise ValueError("grpo.run: soft_cache_length must be smaller than soft_max_length")
        flags |= {"soft_max_length": run.soft_max_length, "soft_cache_length": run.soft_cache_length}
    if run.reward_weights is not None and len(run.reward_weights) != len(run.reward_funcs):
        raise ValueError(f"grpo.run: {len(run.reward_weights)} reward_weights for {len(run.reward_funcs)} reward_funcs")
    return finish_flags(flags, run, plugins_for(shared, "rewards"))


def shell_command(subcommand: str, flags: Sequence[str], nproc: int = 1) -> str:
    """The same run as one terminal line: ``NPROC_PER_NODE=2 swift sft --model ...``; across machines,
    this node's line (``NNODES=2 NODE_RANK=1 MASTER_ADDR=... MASTER_PORT=... NPROC_PER_NODE=...``,
    ms-swift's own variables): run it on each node with its NODE_RANK."""
    import os

    from cookbook.jobs import nodes

    nnodes, rank = nodes()
    across = (f"NNODES={nnodes} NODE_RANK={rank} MASTER_ADDR={os.environ.get('MASTER_ADDR', '<node 0 address>')} "
              f"MASTER_PORT={os.environ.get('MASTER_PORT', '29500')} " if nnodes > 1 else "")
    prefix = f"NPROC_PER_NODE={nproc} " if nproc > 1 or nnodes > 1 else ""
    return across + prefix + shlex.join(["swift", *subcommand.split(), *flags])
