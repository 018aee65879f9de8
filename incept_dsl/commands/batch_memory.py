"""Whether a batch can fit in memory at all, checked before any tensor is allocated.

`check_batches_fit` guarantees: a batch whose *least* possible memory (the input batch in fp32,
plus the largest tensor the model makes and the one it is computed from, at the run's precision)
exceeds the memory of the device (the machine's physical memory, or a cgroup limit below it, for
the CPU; the GPU's total memory for CUDA) is a `UsageError` that names the batch, the estimate
and the memory available. It is a lower bound, so it never refuses a batch that could run; a
batch it lets through may still be too slow or swap, as any program's may.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from incept_dsl.errors import UsageError


def bytes_per_sample(model: Any, precisions: Sequence[str]) -> int:
    """A lower bound on the bytes one sample needs: fp32 inputs, plus the largest tensor of the
    graph twice (an op's input and output are alive together) at the widest precision run."""
    g = model.graph
    width = 4 if "fp32" in precisions else 2
    inputs = sum(math.prod(shape) for shape in model.inputs.values())
    largest = max((math.prod(g.shape(n)) for n in g.nodes()), default=0)
    return 4 * inputs + 2 * width * largest


def device_memory(device: str) -> int | None:
    """Total bytes of memory of `device` ("cpu" or "cuda"), None when it cannot be told."""
    if device == "cuda":
        try:
            import torch

            return int(torch.cuda.get_device_properties(0).total_memory)
        except Exception:  # noqa: BLE001 - no device: the caller reports that itself
            return None
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    try:  # a container's limit (cgroup v2), when it is lower than the machine's memory
        limit = Path("/sys/fs/cgroup/memory.max").read_text(encoding="ascii").strip()
        if limit.isdigit():
            total = min(total, int(limit))
    except OSError:
        pass
    return total if total > 0 else None


def check_batches_fit(
    model: Any, batches: Sequence[int], device: str, precisions: Sequence[str]
) -> None:
    """Raise a `UsageError` for the first batch that cannot fit (see the module doc)."""
    available = device_memory(device)
    if available is None:
        return
    per_sample = bytes_per_sample(model, precisions)
    for batch in batches:
        need = batch * per_sample
        if need > available:
            fits = max(1, available // max(1, per_sample))
            raise UsageError(
                f"--batch {batch} is too large for memory: it needs at least {_size(need)} "
                f"({_size(per_sample)} per sample) and the {device} has {_size(available)}; "
                f"use --batch {fits} or less"
            )


def _size(n: int) -> str:
    """`n` bytes in the largest binary unit that keeps it at least 1 (`1.5 MiB`)."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n} bytes"
