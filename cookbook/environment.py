"""What this machine has: versions of the stack, CPU/GPU, profile, hub mode, paths."""

from __future__ import annotations

import os
import platform
from importlib import metadata

STACK = ["jupyterlab", "papermill", "ms-swift", "evalscope", "modelscope", "torch", "transformers",
         "peft", "trl", "openai", "swanlab", "math-verify", "vllm", "deepspeed"]
GPU_ONLY = {"vllm", "deepspeed"}


def package_versions() -> dict[str, str]:
    versions = {}
    for name in STACK:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed (GPU only)" if name in GPU_ONLY else "MISSING"
    return versions


def hardware() -> dict[str, str]:
    import torch

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "python": platform.python_version(),
        "cpu cores": str(os.cpu_count()),
        "memory": f"{mem_gib:.0f} GiB",
        "gpu": ", ".join(gpus) if gpus else "none (CPU only)",
    }


def missing_packages() -> list[str]:
    return [name for name, v in package_versions().items() if v == "MISSING"]
