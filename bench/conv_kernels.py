"""Which convolution kernel at -O2: oneDNN's fused op (`FusedConv2d._fused`, on its packed
weights) against PyTorch's own `F.conv2d` (+ the residual add and the activation, in place), and
the kernel `-O2` picks (`FusedConv2d.forward`'s choice, without the module call: a single pixel
as `nn.Conv2d`; on an AVX2-only CPU a small conv as PyTorch's GEMM, `FusedConv2d._gemm`), conv by
conv, in the `-O2` module of a bundled model.

    python bench/conv_kernels.py                    # mobilenet_v3_small, mobilenet_v3_large
    python bench/conv_kernels.py --models resnet50 --batch 16

Each conv of the `-O2` module (fresh weights) is called on the input it gets in the network
(captured by a forward pre-hook), under `torch.inference_mode`, the three ways interleaved for 5
rounds of `--runs` runs; the table holds medians in µs per conv, grouped by the conv's input
size (H×W), and the sums. `torch.ops.mkldnn._convolution_pointwise` has a fixed cost per call
(about 30 µs on a 2-vCPU Xeon, 60-120 µs on a 2-vCPU AVX2 EPYC) that `F.conv2d` has not: on a
1×1 input (squeeze-and-excitation gates) that cost is nearly all of it. Benchmark on a quiet
machine: the script warns when the load average exceeds the thread count.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _references import SPECS  # noqa: E402
from _timing import median_seconds, use_threads  # noqa: E402


def _plain(mod: Any, args: tuple[Any, ...]) -> Callable[[], Any]:
    """The conv as `F.conv2d`, then the residual add and the activation, as -O1 runs it."""
    import torch
    import torch.nn.functional as F

    acts = {
        "none": lambda y: y,
        "relu": torch.relu_,
        "sigmoid": torch.sigmoid_,
        "tanh": torch.tanh_,
    }

    def run() -> Any:
        y = F.conv2d(
            args[0], mod.weight, mod.bias, mod.stride, mod.padding, mod.dilation, mod.groups
        )
        if len(args) > 1:
            y += args[1]
        return acts[mod.act](y)

    return run


def _picked(mod: Any, args: tuple[Any, ...]) -> Callable[[], Any]:
    """The kernel `FusedConv2d.forward` picks for these arguments (`_kernel`: nn.Conv2d on one
    pixel, PyTorch's GEMM on a small conv of an AVX2-only CPU, else oneDNN's fused op), without
    the module call around it."""
    x, add = args[0], args[1] if len(args) > 1 else None
    return partial(mod._kernel(x), x, add)


def conv_inputs(
    name: str, batch: int, keep: Callable[[Any], bool]
) -> list[tuple[str, Any, Any, Any]]:
    """(name, conv, x, add) for each FusedConv2d of the model's `-O2` module (fresh weights) that
    `keep` accepts: the input and the residual (or None) it gets in the network at `batch`
    (captured by a forward pre-hook; inference tensors, to be timed under inference mode)."""
    import torch

    import incept_dsl

    spec = SPECS[name]
    net = incept_dsl.load(spec.file, model=spec.model).to_torch(opt_level=2).eval()
    convs = [
        (n, m) for n, m in net.named_modules() if type(m).__name__ == "FusedConv2d" and keep(m)
    ]
    seen: dict[str, tuple[Any, ...]] = {}
    hooks = [
        m.register_forward_pre_hook(lambda m, args, n=n: seen.setdefault(n, args)) for n, m in convs
    ]
    with torch.inference_mode():
        net(torch.randn(batch, 3, spec.size, spec.size))
    for h in hooks:
        h.remove()
    return [(n, m, seen[n][0], seen[n][1] if len(seen[n]) > 1 else None) for n, m in convs]


def conv_times(name: str, batch: int, runs: int) -> list[tuple[str, int, float, float, float]]:
    """(conv, input H·W, fused µs, F.conv2d µs, -O2 µs) for every FusedConv2d of the -O2
    module."""
    import torch

    out = []
    with torch.inference_mode():
        for n, m, x, add in conv_inputs(name, batch, lambda m: True):
            args = (x,) if add is None else (x, add)
            cands = {
                "fused": partial(m._fused, x, add),
                "plain": _plain(m, args),
                "shipped": _picked(m, args),
            }
            times: dict[str, list[float]] = {c: [] for c in cands}
            for _ in range(5):
                for c, fn in cands.items():
                    fn()
                    times[c].append(median_seconds(fn, runs) * 1e6)
            hw = x.shape[2] * x.shape[3]
            out.append((n, hw, *(statistics.median(times[c]) for c in cands)))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--models", default="mobilenet_v3_small,mobilenet_v3_large", help=f"of {', '.join(SPECS)}"
    )
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--runs", type=int, default=20, help="runs per conv, kernel and round")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--per-conv", action="store_true", help="also a row for every conv")
    args = p.parse_args(argv)
    use_threads(args.threads)
    totals: list[str] = []
    each: list[str] = []
    print(
        "| model | batch | input H×W | convs | fused µs (sum) | F.conv2d µs (sum) | "
        "-O2's pick µs (sum) | convs faster with F.conv2d |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    for name in args.models.split(","):
        groups: dict[int, list[tuple[float, float, float]]] = defaultdict(list)
        times = conv_times(name, args.batch, args.runs)
        for conv, hw, fused, plain, shipped in times:
            groups[hw].append((fused, plain, shipped))
            each.append(f"| {name} | {conv} | {hw} | {fused:.0f} | {plain:.0f} | {shipped:.0f} |")
        fused_sum, plain_sum = sum(t[2] for t in times), sum(t[3] for t in times)
        best = sum(min(t[2], t[3]) for t in times)
        totals.append(
            f"{name}: fused {fused_sum:.0f} µs, F.conv2d {plain_sum:.0f} µs, the faster "
            f"of the two for each conv {best:.0f} µs, the kernel -O2 picks {sum(t[4] for t in times):.0f} µs"
        )
        for hw in sorted(groups, reverse=True):
            rows = groups[hw]
            side = int(hw**0.5)
            print(
                f"| {name} | {args.batch} | {side}×{side} | {len(rows)} | "
                f"{sum(r[0] for r in rows):.0f} | {sum(r[1] for r in rows):.0f} | "
                f"{sum(r[2] for r in rows):.0f} | {sum(r[1] < r[0] for r in rows)} |",
                flush=True,
            )
    print("\n".join(totals))
    if args.per_conv:
        print(
            "\n| model | conv | input H·W | fused µs | F.conv2d µs | -O2's pick µs |"
            "\n|---|---|---:|---:|---:|---:|"
        )
        print("\n".join(each))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
