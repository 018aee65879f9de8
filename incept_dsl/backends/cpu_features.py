"""What this machine's CPU can run through PyTorch's oneDNN kernels, probed once and cached.

oneDNN's bfloat16 convolution (the packed, fused kernel `FusedConv2d` runs at -O2) needs a CPU with
AVX-512 BW, VL and DQ, or AVX-NE-CONVERT; on an AVX2-only CPU (many AMD EPYC and older Intel
parts) it raises "bf16 path needs the cpu support ...". Rather than trusting flags, the probe
runs the kernel once on a 1x1x1x1 tensor, exactly as `FusedConv2d` would call it; the CPU flags
(from /proc/cpuinfo, where there is one) only name what is missing in the message.

`torch_kernels.FUSED_CONV_SOURCE` carries the same probe in the generated file (which imports only
torch); `tests/backends/test_torch_kernels.py` checks that the two agree.
"""

from __future__ import annotations

import functools
from pathlib import Path

#: CPU flags (as /proc/cpuinfo spells them) with which oneDNN runs bfloat16 convolutions: all of
#: the first group, or the second.
BF16_FLAG_GROUPS: tuple[tuple[str, ...], ...] = (
    ("avx512bw", "avx512vl", "avx512dq"),
    ("avx_ne_convert",),
)


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (lower case); empty where it is unreadable."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.lower().split())
    return frozenset()


@functools.cache
def cpu_capability() -> str:
    """PyTorch's name for the vector ISA it dispatches to here ("AVX2", "AVX512", ...), or ""."""
    try:
        import torch

        return str(torch.backends.cpu.get_cpu_capability())
    except (ImportError, AttributeError, RuntimeError):
        return ""


@functools.cache
def onednn_bf16_conv() -> bool:
    """Whether oneDNN's bfloat16 convolution (weight packing and the fused pointwise kernel) runs
    on this CPU: the kernels are tried once on a 1x1x1x1 tensor, and the answer is cached.

    False where torch or oneDNN is missing too; never raises.
    """
    try:
        import torch

        if not (
            torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_convolution_pointwise")
        ):
            return False
        args = ([0, 0], [1, 1], [1, 1], 1)
        x = torch.zeros(1, 1, 1, 1, dtype=torch.bfloat16)
        w = torch.ops.mkldnn._reorder_convolution_weight(x, *args, [1, 1, 1, 1])
        torch.ops.mkldnn._convolution_pointwise(x, w, None, *args, "none", [], "")
    except (ImportError, AttributeError, RuntimeError):
        return False
    return True


def missing_bf16_flags() -> list[str]:
    """The flags this CPU lacks for oneDNN's bfloat16 convolution, as
    "avx512bw, avx512vl, avx512dq or avx_ne_convert" parts; empty when the flags are unknown."""
    flags = cpu_flags()
    if not flags:
        return []
    missing = [[f for f in group if f not in flags] for group in BF16_FLAG_GROUPS]
    return [] if not all(missing) else [", ".join(m) for m in missing]


def onednn_bf16_reason() -> str:
    """'' when `onednn_bf16_conv()`; else one sentence saying why not, naming the CPU features
    oneDNN's bfloat16 convolution needs and the ones this CPU lacks (usable as a skip reason)."""
    if onednn_bf16_conv():
        return ""
    need = " or ".join(", ".join(g) for g in BF16_FLAG_GROUPS)
    missing = missing_bf16_flags()
    capability = cpu_capability()
    has = f"this CPU ({capability})" if capability else "this CPU"
    lacks = f" lacks {' and '.join(missing)}" if missing else " does not run it"
    return f"oneDNN's bfloat16 convolution needs the CPU features {need}; {has}{lacks}"
