"""Model and dataset resolution, and the offline switch.

A model reference is one of:
  * ``tiny-world:teacher`` / ``tiny-world:student-base``: a model of the offline tiny world;
  * a local folder;
  * a hub id (``Qwen/Qwen2.5-1.5B-Instruct``), fetched from ModelScope (default, as on
    PAI-DSW) or Hugging Face, unless the hub is offline.

Offline mode sets the Hugging Face and ModelScope offline variables and points both hub
endpoints at a closed loopback port, so a library that ignores the offline flags fails at
once on this machine instead of reaching (or waiting for) the internet. The settings go
into ``os.environ`` so that every process started afterwards inherits them.
"""

from __future__ import annotations

import os
from pathlib import Path

# Port 9 ("discard") on loopback: nothing listens there, connections are refused at once.
DEAD_ENDPOINT = "http://127.0.0.1:9"

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_ENDPOINT": DEAD_ENDPOINT,
    "MODELSCOPE_OFFLINE": "1",
    "MODELSCOPE_ENDPOINT": DEAD_ENDPOINT,
    "MODELSCOPE_DOMAIN": "127.0.0.1:9",
    "DO_NOT_TRACK": "1",
    "SWANLAB_MODE": "offline",
}
TINY_WORLD_PREFIX = "tiny-world:"  # the offline tiny world's models, question splits, benchmarks


class ModelNotAvailable(RuntimeError):
    pass


def go_offline() -> dict[str, str]:
    """Put the offline settings into this process's environment (and so its children's)."""
    os.environ.update(OFFLINE_ENV)
    return dict(OFFLINE_ENV)


def is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE") == "1"


def hub_mode() -> str:
    """A one-line description for the environment report."""
    if is_offline():
        return "offline (HF and ModelScope endpoints point at a closed loopback port)"
    return f"online via {os.environ.get('DISTILL_HUB', 'modelscope')}"


def planned_model(ref: str) -> Path | str:
    """Where a model will be read from, with nothing downloaded or built (cookbook.plan): the tiny
    world's folder, a local folder, else the hub id itself (ms-swift and vLLM take one too)."""
    if ref.startswith(TINY_WORLD_PREFIX):
        from cookbook.toy.world import World, WorldSpec, world_dir

        return World(world_dir(WorldSpec()), {}).model_dir(ref[len(TINY_WORLD_PREFIX):])
    local = Path(ref).expanduser()
    return local if local.exists() else ref


def resolve_model(ref: str) -> Path:
    """A local folder for a model reference; downloads only when online."""
    if ref.startswith(TINY_WORLD_PREFIX):
        from cookbook.toy.world import load_world

        return load_world().model_dir(ref[len(TINY_WORLD_PREFIX):])
    local = Path(ref).expanduser()
    if local.exists():
        return local
    if is_offline():
        raise ModelNotAvailable(
            f"model {ref!r} is not a local folder and the hub is offline. "
            f"Download it on a machine with internet (`make download`) and give its path instead."
        )
    if os.environ.get("DISTILL_HUB", "modelscope") == "huggingface":
        from huggingface_hub import snapshot_download as hf_download

        return Path(hf_download(ref))
    from modelscope import snapshot_download

    return Path(snapshot_download(ref))
