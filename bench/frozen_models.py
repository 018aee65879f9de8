"""`compile_for_inference` on every bundled model: does Inductor's freezing compute it right?

    python bench/frozen_models.py                    # every model in architectures/*.incept
    python bench/frozen_models.py --models resnet50,googlenet_tv --level 2

Not a speed benchmark: a check too slow for the test suite (Inductor compiles each model for
15-45 s on 2 cores; the suite compiles one tiny program). Each model runs at the smallest square
input it accepts and with random weights and batch-norm statistics, as the test suite's
ecosystem tests run it (`tests/optimizer_helpers.py`; compile time grows with the number of
kernels, not the input), at batch 2; the table gives the compile time and the relative difference
(`inference.worst_difference`, tolerance 1e-4 in float32) between `-O<level>` under
`compile_for_inference` (`check=False`: this script compares) and the `-O0` module in eager mode.
A compile that raises is reported with its first line, and the script goes on.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

# the test suite's own choices: every bundled model, the smallest input it accepts, and random
# weights with non-trivial batch-norm statistics (as the ecosystem and pass tests use them)
from optimizer_helpers import arch_models, load_small, randomize  # noqa: E402


def check(file: str, name: str, level: int) -> str:
    """One table row for the model."""
    import torch

    import incept_dsl
    from incept_dsl.backends.torch.inference import worst_difference

    m = load_small(file, name)
    net0 = randomize(m.to_torch()).eval()
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
        err, tol = worst_difference(got, net0(*xs))
    verdict = "ok" if err <= tol else "WRONG"
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
    for file, name in arch_models():
        if only is not None and name not in only:
            continue
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
