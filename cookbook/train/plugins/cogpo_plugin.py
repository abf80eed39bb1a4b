"""ms-swift plugin (--external_plugins): `swift rlhf --rlhf_type dpo` trains with CogPO.

ms-swift has no CogPO. Its trainer factory maps each rlhf_type to a trainer class by
import path; this plugin points "dpo" at cookbook's subclass of ms-swift's DPOTrainer,
which reads each pair's beta from the data (see cookbook/train/cogpo.py).
"""

from swift.trainers import TrainerFactory

TrainerFactory.TRAINER_MAPPING["dpo"] = "cookbook.train.cogpo.CogPOTrainer"
