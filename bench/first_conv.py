"""The first conv of a network (three input channels, on the image) at batch 1 and 16: oneDNN's
fused op as `-O2` calls it, in oneDNN's blocked layout (the conv alone on an input already
reordered, and with the reorders from and back to channels-last that a network would pay), and
batch 16 as sixteen batch-1 calls put together again.

    python bench/first_conv.py                      # untuned: glibc maps large outputs afresh
    python bench/first_conv.py --tune-allocator     # incept_dsl.tune_cpu_allocator() first

Convs: GoogLeNet's and ResNet-50's 7x7/2 3->64 on 224x224, Inception-v3's 3x3/2 3->32 on
299x299. Candidates interleaved for 5 rounds, medians of each round's median of `--runs` calls
(batch 16: a third as many), in ms; minor page faults per call of the fused op. Run it on a quiet
machine (it warns otherwise).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import median_seconds, use_threads  # noqa: E402

from incept_dsl.backends.cpu_allocator import minor_faults, tune_cpu_allocator  # noqa: E402

#: (kernel, stride, padding, out channels, input side)
CONVS = [(7, 2, 3, 64, 224), (3, 2, 0, 32, 299)]


def _faults_per_call(fn: Callable[[], Any], calls: int = 3) -> float | None:
    """Minor page faults per call of `fn` after one untimed call; None where they can't be counted."""
    fn()
    before = minor_faults()
    for _ in range(calls):
        fn()
    after = minor_faults()
    return None if before is None or after is None else (after - before) / calls


def measure(conv: tuple[int, int, int, int, int], batch: int, runs: int) -> dict[str, float | None]:
    """Median ms of each candidate, and the fused op's page faults per call."""
    import torch
    from torch.utils import mkldnn

    k, s, p, cout, side = conv
    x = torch.randn(batch, 3, side, side).contiguous(memory_format=torch.channels_last)
    ref = torch.nn.Conv2d(3, cout, k, s, p).eval()
    w, b = ref.weight.detach(), ref.bias.detach()
    args = ([p, p], [s, s], [1, 1], 1)
    pointwise = torch.ops.mkldnn._convolution_pointwise
    pack = torch.ops.mkldnn._reorder_convolution_weight
    packed, packed1 = pack(w, *args, list(x.shape)), pack(w, *args, [1, *x.shape[1:]])
    blocked, xb = mkldnn.to_mkldnn(torch.nn.Sequential(ref))[0], x.contiguous().to_mkldnn()
    candidates = {
        "fused": lambda: pointwise(x, packed, b, *args, "relu", [], ""),
        "blocked, conv alone": lambda: blocked(xb),
        "blocked, reordered in and out": lambda: torch.relu_(
            blocked(x.contiguous().to_mkldnn()).to_dense()
        ).contiguous(memory_format=torch.channels_last),
        "batch-1 calls + cat": lambda: torch.cat(
            [pointwise(x[i : i + 1], packed1, b, *args, "relu", [], "") for i in range(batch)]
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in candidates}
    with torch.inference_mode():
        want = candidates["fused"]()
        for name in ("blocked, reordered in and out", "batch-1 calls + cat"):
            got = candidates[name]()
            assert torch.allclose(got, want, rtol=1e-4, atol=1e-4), f"{name}: differs"
        faults = _faults_per_call(candidates["fused"])
        n = runs if batch == 1 else max(3, runs // 3)
        for _ in range(5):
            for name, fn in candidates.items():
                times[name].append(median_seconds(fn, n, warmup=1))
    out: dict[str, float | None] = {n: statistics.median(ts) * 1e3 for n, ts in times.items()}
    out["faults per call"] = faults
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, action="append", help="repeatable (default 1 and 16)")
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tune-allocator", action="store_true", help="tune_cpu_allocator() first")
    args = p.parse_args(argv)
    if args.tune_allocator:  # before torch is imported, for the huge pages
        print(tune_cpu_allocator().describe(), file=sys.stderr)
    use_threads(args.threads)
    rows = []
    for conv in CONVS:
        for batch in args.batch or [1, 16]:
            got = measure(conv, batch, args.runs)
            k, s, _, cout, side = conv
            cells = " | ".join("?" if v is None else f"{v:,.2f}" for v in got.values())
            rows.append(f"| {k}x{k}/{s} 3->{cout} @{side} | {batch} | {cells} |")
    print(
        "| conv | batch | fused ms | blocked, conv alone ms | blocked, reordered in and out ms "
        "| batch-1 calls + cat ms | faults |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
