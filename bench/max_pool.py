"""Max pooling kernels for -O2: PyTorch's `F.max_pool2d` (which also computes argmax indices on
the CPU) against two ways of taking the same maxima without indices, on every max pool of the
bundled reference models.

    python bench/max_pool.py                        # googlenet, inception_v3, resnet50, IRv2
    python bench/max_pool.py --models googlenet --batch 16

Candidates, each checked equal to `F.max_pool2d` first (values, NaN included):
- `shifted`: any window: pad with -inf, then the running maximum of the window's shifted,
  strided views, along the rows and then the columns (2·(k-1) `torch.maximum` calls);
- `in place`: 3×3, stride 1, padding 1 only: a copy of x, maxima with its neighbours written
  into it in place (4 `torch.maximum` calls on views, one more copy).
Each distinct pool (input shape, kernel, stride, padding, ceil mode) runs channels-last under
`torch.inference_mode`, the candidates interleaved for 5 rounds of `--runs` runs; the table holds
medians in µs and the speed-up of the best candidate over `F.max_pool2d`. Benchmark on a quiet
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

Pair = tuple[int, int]
Pool = tuple[tuple[int, ...], Pair, Pair, Pair, bool]


def pools(name: str) -> list[Pool]:
    """The distinct max pools of a model: (input C, H, W), kernel, stride, padding, ceil mode."""
    import incept_dsl

    spec = SPECS[name]
    g = incept_dsl.load(spec.file, model=spec.model).graph
    out: list[Pool] = []
    for n in g.order():
        if g.op(n) == "maxpool":
            (src,) = g.inputs(n)
            a = g.attrs(n)
            key = (g.shape(src), a["kernel"], a["stride"], a["padding"], a["ceil"])
            if key not in out:
                out.append(key)
    return out


def _pool_size(n: int, k: int, s: int, p: int, ceil_mode: bool) -> int:
    """PyTorch's pooled size of an extent n (ceil mode drops a window starting in the padding)."""
    o = (n + 2 * p - k + (s - 1 if ceil_mode else 0)) // s + 1
    return o - 1 if ceil_mode and (o - 1) * s >= n + p else o


def shifted(x: Any, kernel: Pair, stride: Pair, padding: Pair, ceil_mode: bool) -> Any:
    import torch
    import torch.nn.functional as F

    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    h, w = x.shape[-2:]
    oh, ow = _pool_size(h, kh, sh, ph, ceil_mode), _pool_size(w, kw, sw, pw, ceil_mode)
    eh, ew = (oh - 1) * sh + kh, (ow - 1) * sw + kw  # the padded extent the windows cover
    if ph or pw or eh > h or ew > w:
        x = F.pad(x, (pw, max(ew - w - pw, 0), ph, max(eh - h - ph, 0)), value=float("-inf"))
    cols = x[..., :, 0 : ew - kw + 1 : sw]
    for j in range(1, kw):
        cols = torch.maximum(cols, x[..., :, j : ew - kw + 1 + j : sw])
    out = cols[..., 0 : eh - kh + 1 : sh, :]
    for i in range(1, kh):
        out = torch.maximum(out, cols[..., i : eh - kh + 1 + i : sh, :])
    return out


def in_place(x: Any) -> Any:
    """3×3, stride 1, padding 1 (ceil mode changes nothing there)."""
    import torch

    out = x.clone()
    torch.maximum(out[..., 1:], x[..., :-1], out=out[..., 1:])
    torch.maximum(out[..., :-1], x[..., 1:], out=out[..., :-1])
    rows = out.clone()
    torch.maximum(out[..., 1:, :], rows[..., :-1, :], out=out[..., 1:, :])
    torch.maximum(out[..., :-1, :], rows[..., 1:, :], out=out[..., :-1, :])
    return out


def candidates(k: Pair, s: Pair, p: Pair, ceil: bool) -> dict[str, Callable[[Any], Any]]:
    import torch.nn.functional as F

    cands: dict[str, Callable[[Any], Any]] = {
        "F.max_pool2d": lambda x: F.max_pool2d(x, k, s, p, ceil_mode=ceil),
        "shifted": lambda x: shifted(x, k, s, p, ceil),
    }
    if (k, s, p) == ((3, 3), (1, 1), (1, 1)):
        cands["in place"] = in_place
    return cands


def pool_rows(name: str, batch: int, runs: int) -> list[str]:
    import torch

    out = []
    for shape, k, s, p, ceil in pools(name):
        x = torch.randn(batch, *shape).contiguous(memory_format=torch.channels_last)
        x[0, 0, 0, 0] = float("nan")
        cands = candidates(k, s, p, ceil)
        times: dict[str, list[float]] = {c: [] for c in cands}
        with torch.inference_mode():
            want = cands["F.max_pool2d"](x).nan_to_num(7.0)
            for c, fn in cands.items():
                assert torch.equal(fn(x).nan_to_num(7.0), want), (name, shape, c)
            for _ in range(5):  # interleaved rounds
                for c, fn in cands.items():
                    fn(x)
                    times[c].append(median_seconds(partial(fn, x), runs) * 1e6)
        med = {c: statistics.median(t) for c, t in times.items()}
        best = min(med["shifted"], med.get("in place", float("inf")))
        out.append(
            f"| {name} | {batch} | {'×'.join(map(str, shape))} | {k[0]}×{k[1]} s{s[0]} p{p[0]}"
            f"{' ceil' if ceil else ''} | {med['F.max_pool2d']:.0f} | {med['shifted']:.0f} | "
            f"{med.get('in place', float('nan')):.0f} | {med['F.max_pool2d'] / best:.2f}× |"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--models",
        default="googlenet,inception_v3,resnet50,inception_resnet_v2",
        help=f"of {', '.join(SPECS)}",
    )
    p.add_argument("--batch", type=int, action="append", help="repeatable (default 1 and 16)")
    p.add_argument("--runs", type=int, default=20, help="runs per pool, candidate and round")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    use_threads(args.threads)
    print(
        "| model | batch | input | pool | F.max_pool2d µs | shifted µs | in place µs | "
        "best vs F |\n|---|---:|---|---|---:|---:|---:|---:|"
    )
    for name in args.models.split(","):
        for batch in args.batch or [1, 16]:
            print("\n".join(pool_rows(name, batch, args.runs)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
