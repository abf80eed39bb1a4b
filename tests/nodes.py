"""Start one Python snippet as the nodes of a job across machines, on loopback, the way a
scheduler (PAI-DLC, Slurm with torchrun) starts one copy per machine: the same command on each,
told apart only by NODE_RANK, all meeting at MASTER_ADDR:MASTER_PORT."""

import os
import subprocess
import sys

from cookbook import procs


def run_as_nodes(snippet: str, arg: str, nnodes: int = 2, timeout: int = 900) -> None:
    """``python -c snippet arg`` once per node, concurrently; fails with each failed node's output."""
    port = str(procs.free_port())
    nodes = []
    for rank in range(nnodes):
        env = dict(os.environ) | {"NNODES": str(nnodes), "NODE_RANK": str(rank), "MASTER_ADDR": "127.0.0.1",
                                  "MASTER_PORT": port, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
        nodes.append(subprocess.Popen([sys.executable, "-c", snippet, arg], env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    outputs = [node.communicate(timeout=timeout)[0] for node in nodes]
    failed = [f"node {rank} (exit {node.returncode}):\n{out[-3000:]}"
              for rank, (node, out) in enumerate(zip(nodes, outputs)) if node.returncode != 0]
    assert not failed, "\n".join(failed)
