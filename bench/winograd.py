"""Winograd convolution in PyTorch ops against oneDNN's fused op, on every 3×3 stride-1 conv of
a bundled model's `-O2` module: is there a faster kernel for the large convs than oneDNN's?

    python bench/winograd.py                        # googlenet, resnet50, batch 1
    python bench/winograd.py --models inception_v3 --batch 16 --per-conv

Winograd's minimal filtering computes a 3×3 conv's m×m output tile from an (m+2)×(m+2) input
tile with (m+2)² multiplies per channel pair instead of 9m²: 2.25× fewer at m = 2 (F(2×2,3×3)),
4× fewer at m = 4 (F(4×4,3×3)), paid for with transforms of the input and output tiles and a
larger rounding error. Both are written here in PyTorch ops on a channels-last input:
- F(2,3): the transforms as adds and subtracts of strided views (the matrices are 0 and ±1),
  the multiply as one batched GEMM of 16 [tiles × C_in] by [C_in × C_out] products;
- F(4,3): the transforms as GEMMs with the 6×6 and 4×6 transform matrices, then 36 products.
Each conv is called on the input it gets in the network (captured by a forward pre-hook), with
its residual add and activation, under `torch.inference_mode`; the three kernels interleaved for
5 rounds of `--runs` runs, medians in µs. The error column is the largest difference from a
float64 conv over the largest output, for oneDNN and both Winograd kernels. Benchmark on a quiet
machine: the script warns when the load average exceeds the thread count.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _references import SPECS  # noqa: E402
from _timing import median_seconds, use_threads  # noqa: E402
from conv_kernels import conv_inputs  # noqa: E402

#: m -> (Bᵀ, G, Aᵀ) of F(m×m, 3×3) (Lavin and Gray, 2016), exact in binary floating point.
TRANSFORMS: dict[int, tuple[list[list[float]], list[list[float]], list[list[float]]]] = {
    2: (
        [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
        [[1, 1, 1, 0], [0, 1, -1, -1]],
    ),
    4: (
        [
            [4, 0, -5, 0, 1, 0],
            [0, -4, -4, 1, 1, 0],
            [0, 4, -4, -1, 1, 0],
            [0, -2, -1, 2, 1, 0],
            [0, 2, -1, -2, 1, 0],
            [0, 4, 0, -5, 0, 1],
        ],
        [
            [1 / 4, 0, 0],
            [-1 / 6, -1 / 6, -1 / 6],
            [-1 / 6, 1 / 6, -1 / 6],
            [1 / 24, 1 / 12, 1 / 6],
            [1 / 24, -1 / 12, 1 / 6],
            [0, 0, 1],
        ],
        [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
    ),
}


class Winograd:
    """F(m×m, 3×3) for one conv (3×3, stride 1, padding 1, ungrouped) on its weights, transformed
    once (in float64); `__call__(x, add)` is act(conv(x) + bias + add) in channels-last memory."""

    def __init__(self, conv: Any, m: int) -> None:
        import torch

        bt, g, at = (torch.tensor(t, dtype=torch.float64) for t in TRANSFORMS[m])
        w = conv.weight.detach().double()
        a = m + 2
        u = torch.einsum("ak,oikl,bl->abio", g, w, g).reshape(a * a, w.shape[1], w.shape[0])
        self.m, self.u, self.bias, self.act = m, u.float().contiguous(), conv.bias, conv.act
        self.bt, self.at = bt.float(), at.float()

    def tiles(self, x: Any) -> tuple[Any, tuple[int, ...]]:
        """x's overlapping (m+2)² tiles as a view [i, j, N, tiles down, tiles across, C]."""
        import torch.nn.functional as F

        m, a = self.m, self.m + 2
        n, c, h, w = x.shape
        th, tw = -(-h // m), -(-w // m)
        xp = F.pad(x.permute(0, 2, 3, 1), (0, 0, 1, m * tw + 1 - w, 1, m * th + 1 - h))
        sn, sh, sw, _ = xp.stride()
        d = xp.as_strided((a, a, n, th, tw, c), (sh, sw, sn, m * sh, m * sw, 1))
        return d, (n, h, w, th, tw)

    def __call__(self, x: Any, add: Any = None) -> Any:
        import torch

        d, (n, h, w, th, tw) = self.tiles(x)
        products = self.multiply_2(d) if self.m == 2 else self.multiply_4(d)
        y = self.output_2(products) if self.m == 2 else self.output_4(products)
        y = y.view(self.m, self.m, n, th, tw, -1).permute(2, 3, 0, 4, 1, 5)
        y = y.reshape(n, self.m * th, self.m * tw, -1)[:, :h, :w].contiguous()
        if self.bias is not None:
            y += self.bias
        y = y.permute(0, 3, 1, 2)
        if add is not None:
            y += add
        return {"none": lambda t: t, "relu": torch.relu_}[self.act](y)

    def multiply_2(self, d: Any) -> Any:
        """Bᵀ d B with adds and subtracts of views, then the 16 products: [16, tiles, C_out]."""
        import torch

        t = torch.empty(d.shape)  # [α, j, ...]: the rows transformed
        torch.sub(d[0], d[2], out=t[0])
        torch.add(d[1], d[2], out=t[1])
        torch.sub(d[2], d[1], out=t[2])
        torch.sub(d[1], d[3], out=t[3])
        v = torch.empty(d.shape)  # [α, β, ...]
        torch.sub(t[:, 0], t[:, 2], out=v[:, 0])
        torch.add(t[:, 1], t[:, 2], out=v[:, 1])
        torch.sub(t[:, 2], t[:, 1], out=v[:, 2])
        torch.sub(t[:, 1], t[:, 3], out=v[:, 3])
        return torch.bmm(v.view(16, -1, d.shape[-1]), self.u)

    def output_2(self, p: Any) -> Any:
        """Aᵀ p A with adds and subtracts: [2, 2, tiles · C_out]."""
        import torch

        p = p.view(4, 4, -1)
        s = torch.empty((2, 4, p.shape[-1]))
        torch.add(p[0], p[1], out=s[0]).add_(p[2])
        torch.sub(p[1], p[2], out=s[1]).sub_(p[3])
        y = torch.empty((2, 2, p.shape[-1]))
        torch.add(s[:, 0], s[:, 1], out=y[:, 0]).add_(s[:, 2])
        torch.sub(s[:, 1], s[:, 2], out=y[:, 1]).sub_(s[:, 3])
        return y

    def multiply_4(self, d: Any) -> Any:
        """Bᵀ d B as two GEMMs on the gathered tiles, then the 36 products: [36, tiles, C_out]."""
        import torch

        c = d.shape[-1]
        d = d.contiguous()
        t = torch.mm(self.bt, d.view(6, -1))  # rows: [α, j · tiles · C]
        v = torch.matmul(self.bt, t.view(6, 6, -1))  # columns: [α, β, tiles · C]
        return torch.bmm(v.view(36, -1, c), self.u)

    def output_4(self, p: Any) -> Any:
        """Aᵀ p A as two GEMMs: [4, 4, tiles · C_out]."""
        import torch

        s = torch.mm(self.at, p.view(6, -1))
        return torch.matmul(self.at, s.view(4, 6, -1))


def eligible(mod: Any) -> bool:
    """A conv Winograd's F(m×m, 3×3) computes as written here."""
    return (
        type(mod).__name__ == "FusedConv2d"
        and mod.kernel_size == (3, 3)
        and mod.stride == (1, 1)
        and mod.dilation == (1, 1)
        and mod.padding == (1, 1)
        and mod.groups == 1
        and mod.act in ("none", "relu")
    )


def _error(fn: Callable[[], Any], want: Any) -> float:
    got = fn().double()
    return float((got - want).abs().max() / want.abs().max())


def _float64(mod: Any, x: Any, add: Any) -> Any:
    import torch
    import torch.nn.functional as F

    b = None if mod.bias is None else mod.bias.double()
    y = F.conv2d(x.double(), mod.weight.double(), b, padding=1)
    y = y if add is None else y + add.double()
    return torch.relu(y) if mod.act == "relu" else y


def conv_rows(name: str, batch: int, runs: int) -> list[tuple[str, str, list[float], list[float]]]:
    """(conv, shape, [µs of -O2's kernel, F(2,3), F(4,3)], [their errors]) for each eligible conv."""
    import torch

    out = []
    with torch.inference_mode():
        for n, m, x, add in conv_inputs(name, batch, eligible):
            kernels = [partial(m._kernel(x), x, add)]  # what -O2 runs
            kernels += [partial(Winograd(m, k), x, add) for k in (2, 4)]
            want = _float64(m, x, add)
            errors = [_error(k, want) for k in kernels]
            if max(errors) > 1e-4:  # checked before timing: a wrong kernel is not a candidate
                raise SystemExit(f"{name} {n}: errors {errors} against float64")
            times: list[list[float]] = [[] for _ in kernels]
            for _ in range(5):
                for k, ts in zip(kernels, times, strict=True):
                    k()
                    ts.append(median_seconds(k, runs) * 1e6)
            shape = f"{m.in_channels}→{m.out_channels} @{x.shape[2]}×{x.shape[3]}"
            out.append((n, shape, [statistics.median(ts) for ts in times], errors))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="googlenet,resnet50", help=f"of {', '.join(SPECS)}")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--runs", type=int, default=10, help="runs per conv, kernel and round")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--per-conv", action="store_true", help="also a row for every conv")
    args = p.parse_args(argv)
    use_threads(args.threads)
    print(
        "| model | batch | 3×3 convs | -O2 µs | F(2,3) µs | F(4,3) µs | faster: F(2,3), "
        "F(4,3) | the fastest of the three µs | largest error: -O2, F(2,3), F(4,3) |"
        "\n|---|---:|---:|---:|---:|---:|---:|---:|---|"
    )
    each = []
    for name in args.models.split(","):
        rows = conv_rows(name, args.batch, args.runs)
        sums = [sum(r[2][k] for r in rows) for k in range(3)]
        faster = [sum(r[2][k] < r[2][0] for r in rows) for k in (1, 2)]
        best = sum(min(r[2]) for r in rows)
        worst = [max(r[3][k] for r in rows) for k in range(3)]
        print(
            f"| {name} | {args.batch} | {len(rows)} | {sums[0]:.0f} | {sums[1]:.0f} | "
            f"{sums[2]:.0f} | {faster[0]}, {faster[1]} | {best:.0f} | "
            + ", ".join(f"{e:.1e}" for e in worst)
            + " |",
            flush=True,
        )
        for conv, shape, ts, errs in rows:
            speed = " | ".join(f"{ts[0] / t:.2f}×" for t in ts[1:])
            each.append(f"| {name} | {conv} | {shape} | {ts[0]:.0f} | {speed} | {errs[2]:.1e} |")
    if args.per_conv:
        print(
            "\n| model | conv | shape | -O2 µs | F(2,3) speed | F(4,3) speed | F(4,3) error |"
            "\n|---|---|---|---:|---:|---:|---:|"
        )
        print("\n".join(each))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
