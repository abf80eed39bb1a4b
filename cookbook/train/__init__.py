"""Training stages through ms-swift: SFT (LoRA and full), DPO, CogPO and GRPO.

    from cookbook.train import export_model, launch, stage

    job = stage.sft_job(session, "full")     # flags built from the recipe, inputs from the manifest
    print(job.shell)                          # NPROC_PER_NODE=... swift sft --model ... (for a terminal)
    result = launch(job)                      # live progress; resumes after an interruption (cookbook.jobs)
    model = export_model(result.checkpoint, session.run.stage_dir("sft") / "model-full")

Modules: args (recipe -> ms-swift flags), launcher (the ms-swift command, its progress bar
and data links; reuse, resume and torchrun are cookbook.jobs's), stage (the jobs of
notebooks 03, 05, 06), export (export / merge LoRA, load, chat), cogpo (DPO with a
per-pair beta, a subclass of ms-swift's DPOTrainer), rewards (GRPO's verifiable rewards),
own_mistakes (05's pairs), measure (accuracy, preference margin, mean reward), and
plugins/ (files ms-swift imports with --external_plugins).
"""

from cookbook.train.export import Chat, export_model
from cookbook.train.launcher import TrainingFailed, TrainJob, TrainResult, launch, read_history

__all__ = ["Chat", "TrainJob", "TrainResult", "TrainingFailed", "export_model", "launch", "read_history"]
