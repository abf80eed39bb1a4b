"""ms-swift plugin (--external_plugins): cookbook's verifiable GRPO rewards, see cookbook/train/rewards.py."""

from swift.rewards import orms

from cookbook.train.rewards import make_orms

orms.update(make_orms())
