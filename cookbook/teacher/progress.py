"""The progress bar of a teacher run: requests/s, tokens and, when prices are set, cost.

Rows read from the cache count as done from the start and cost nothing; tokens and cost
are those of the requests sent by this run.
"""

from __future__ import annotations

import time

from tqdm import tqdm  # plain tqdm: its text renders in JupyterLab and in papermill outputs

from cookbook.teacher.config import TeacherConfig
from cookbook.teacher.requests import Result


class TeacherProgress:
    def __init__(self, total: int, cached: int, config: TeacherConfig, enabled: bool = True):
        self.config = config
        self.prompt_tokens = self.completion_tokens = self.failed = 0
        self.start = time.monotonic()
        self.bar = tqdm(total=total, initial=cached, unit="req", desc=f"teacher {config.model}",
                        disable=not enabled, mininterval=0.5, dynamic_ncols=True)

    def update(self, result: Result) -> None:
        usage = result.usage or {}
        self.prompt_tokens += usage.get("prompt_tokens") or 0
        self.completion_tokens += usage.get("completion_tokens") or 0
        self.failed += not result.ok
        self.bar.set_postfix_str(self.postfix(), refresh=False)
        self.bar.update(1)

    def postfix(self) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        parts = [f"in {_k(self.prompt_tokens)} tok", f"out {_k(self.completion_tokens)} tok",
                 f"{self.completion_tokens / elapsed:,.0f} out tok/s"]
        cost = self.config.cost(self.prompt_tokens, self.completion_tokens)
        if cost is not None:
            parts.append(f"cost {cost:,.4f}")
        if self.failed:
            parts.append(f"{self.failed} failed")
        return ", ".join(parts)

    def close(self) -> None:
        self.bar.close()


def _k(n: int) -> str:
    return f"{n / 1000:,.1f}k" if n >= 1000 else str(n)
