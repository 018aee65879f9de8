"""`compile_for_inference` on every bundled model: does Inductor's freezing compute it right?

    python bench/frozen_models.py                    # every model in architectures/*.incept
    python bench/frozen_models.py --models resnet50,googlenet_tv --level 2

Not a speed benchmark: a check too slow for the test suite (Inductor compiles each model for
15-45 s on 2 cores; the suite compiles one tiny program). Each model runs at the smallest square
input it accepts (64, 96, 128, ... up to its own size: compile time grows with the number of
kernels, not the input), with random weights and batch-norm statistics, at batch 2; the table
gives the compile time and the relative difference between `-O<level>` under
`compile_for_inference` (`check=False`: this script compares) and the `-O0` module in eager mode.
A compile that raises is reported with its first line, and the script goes on.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIDES = (64, 96, 128, 160, 192, 224, 256)


def models(only: set[str] | None) -> list[tuple[str, str]]:
    """(file, model) for every bundled model, or those named in `only`."""
    from incept_dsl.frontend.loader import Loader

    out = []
    for path in sorted((ROOT / "architectures").glob("*.incept")):
        for m in Loader().load_path(path).program.models:
            if only is None or m.name in only:
                out.append((path.name, m.name))
    return out


def load_small(file: str, name: str) -> Any:
    """The model at the smallest side in `SIDES` it accepts (its `size` parameter where it has
    one), else at its own input size."""
    import incept_dsl

    path = ROOT / "architectures" / file
    default = incept_dsl.load(path, model=name)
    (shape,) = list(default.inputs.values())[:1]
    for side in SIDES:
        if side >= shape[-1]:
            break
        try:
            if "size" in default.params:
                return incept_dsl.load(path, model=name, params={"size": side})
            return incept_dsl.load(path, model=name, input_shape=(shape[0], side, side))
        except incept_dsl.InceptError:
            continue
    return default


def randomized(net: Any) -> Any:
    """`net` with random biases, batch-norm affine parameters and running statistics."""
    import torch

    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if name.endswith("running_var"):
                t.uniform_(0.5, 2.0, generator=gen)
            elif name.endswith(("running_mean", "bias")):
                t.uniform_(-0.2, 0.2, generator=gen)
    return net.eval()


def check(file: str, name: str, level: int) -> str:
    """One table row for the model."""
    import torch

    import incept_dsl

    m = load_small(file, name)
    net0 = randomized(m.to_torch())
    net = m.to_torch(opt_level=level, state_dict=net0.state_dict()).eval()
    xs = [torch.randn(2, *s) for s in m.inputs.values()]
    side = "×".join(str(d) for d in next(iter(m.inputs.values())))
    start = time.perf_counter()
    try:
        got = incept_dsl.compile_for_inference(net, check=False)(*xs)
    except Exception as err:  # noqa: BLE001 - reported, and the script goes on
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:120]
        return f"| {name} | {side} | – | – | compile failed: {type(err).__name__}: {first} |"
    took = time.perf_counter() - start
    with torch.no_grad():
        want = net0(*xs)
    pairs = [(got, want)] if isinstance(want, torch.Tensor) else list(zip(got, want, strict=True))
    err = max(float((a - b).abs().max() / b.abs().max().clamp_min(1e-30)) for a, b in pairs)
    verdict = "ok" if err <= 1e-4 else "WRONG"
    return f"| {name} | {side} | {took:.1f} | {err:.1e} | {verdict} |"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", help="model names, comma-separated (default: all)")
    p.add_argument("--level", type=int, default=2, choices=(0, 1, 2))
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    only = set(args.models.split(",")) if args.models else None
    print(
        f"-O{args.level} under compile_for_inference against -O0 eager, batch 2, torch "
        f"{torch.__version__}\n"
    )
    print("| model | input | compile s | rel. difference | verdict |")
    print("|---|---|---:|---:|---|")
    bad = 0
    for file, name in models(only):
        torch._dynamo.reset()
        try:
            row = check(file, name, args.level)
        except Exception:  # noqa: BLE001 - a bug of ours: shown whole, and the script goes on
            traceback.print_exc()
            row = f"| {name} | – | – | – | error (traceback above) |"
        bad += "| ok |" not in row
        print(row, flush=True)
    print(f"\n{bad} of the models not ok")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
