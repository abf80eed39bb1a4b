import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NETGUARD = Path(__file__).parent / "netguard"


@pytest.fixture(scope="session")
def world():
    """The cached tiny world (`make test` builds it before pytest starts)."""
    from cookbook.hub import go_offline
    from cookbook.toy.world import load_world

    go_offline()
    return load_world()


@pytest.fixture
def guarded_env(tmp_path):
    """An environment for child processes: offline settings plus the network guard."""
    from cookbook.hub import OFFLINE_ENV

    log = tmp_path / "netguard.log"
    log.touch()
    env = dict(os.environ) | OFFLINE_ENV
    env["PYTHONPATH"] = os.pathsep.join([str(NETGUARD), str(ROOT), env.get("PYTHONPATH", "")])
    env["NETGUARD_LOG"] = str(log)
    return env, log


@pytest.fixture
def python():
    return sys.executable
