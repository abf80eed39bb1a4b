"""Training stages through ms-swift: SFT (LoRA and full), DPO, CogPO and GRPO.

    from cookbook.train import launch, stages, export_model

    job = stages.sft_job(session, "full")    # flags built from the recipe, inputs from the manifest
    print(job.shell)                          # NPROC_PER_NODE=... swift sft --model ... (for a terminal)
    result = launch(job)                      # live progress; resumes after an interruption
    model = export_model(result.checkpoint, session.run.stage_dir("sft") / "model-full")

Modules: args (recipe -> ms-swift flags), launcher (subprocess, progress, errors, resume,
torchrun), stages (the jobs of notebooks 03, 05, 06), models (export / merge LoRA, chat),
cogpo (DPO with a per-pair beta, a subclass of ms-swift's DPOTrainer), rewards (GRPO's
verifiable rewards), measure (accuracy, preference margin, mean reward), plots, and
plugins/ (files ms-swift imports with --external_plugins).
"""

from cookbook.train.launcher import TrainingFailed, TrainJob, TrainResult, launch, read_history
from cookbook.train.models import Chat, export_model

__all__ = ["Chat", "TrainJob", "TrainResult", "TrainingFailed", "export_model", "launch", "read_history"]
