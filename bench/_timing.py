"""What the micro-benchmarks in `bench/` share: a median wall time, and the thread set-up."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from incept_dsl.perf import busy_machine


def median_seconds(fn: Callable[[], Any], runs: int, warmup: int = 0) -> float:
    """The median wall time of `runs` calls of `fn`, after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def use_threads(threads: int) -> None:
    """Run torch on `threads` threads; warn on stderr when the machine is too busy to time."""
    import torch

    torch.set_num_threads(threads)
    if warning := busy_machine(threads):
        print(warning, file=sys.stderr)
