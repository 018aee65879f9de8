"""Which rewrites help PyTorch at -O2: our `-O2` module as `to_torch` builds it (sibling convs
merged) against the same module without `merge-sibling-convs` and `cancel-split-concat` (what
the ONNX target leaves out, `passes.TARGET_SKIPS["onnx"]`).

    python bench/torch_rewrites.py                          # googlenet, inception_v3; batch 1, 16
    python bench/torch_rewrites.py --models googlenet --batch 16 --rounds 9

For each model the reference (torchvision/timm, `_references.SPECS`) gets realistic weights and
`incept_dsl.copy_weights` copies them into our -O0 module; both -O2 variants get its state_dict.
Their outputs are compared (relative difference below 1e-4), then they are timed with `--threads`
threads, interleaved round by round (the order alternates); each sample is the best of three runs
after a 0.2 s pause. Medians and p10/p90 in milliseconds. Benchmark on a quiet machine: the script
warns when the load average exceeds the thread count.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _references import SPECS, realistic, torchvision_shim  # noqa: E402

from incept_dsl.perf import busy_machine  # noqa: E402

UNMERGED = ("merge-sibling-convs", "cancel-split-concat")


def variants(name: str) -> tuple[Any, dict[str, Any]]:
    """The model's spec and its two -O2 modules on the reference's weights."""
    import incept_dsl
    from incept_dsl import passes

    spec = SPECS[name]
    ref = realistic(spec.build()).eval()
    model = incept_dsl.load(spec.file, model=spec.model)
    o0 = model.to_torch().eval()
    incept_dsl.copy_weights(ref, o0)
    state = o0.state_dict()
    merged = model.to_torch(opt_level=2, state_dict=state).eval()
    saved = passes.TARGET_SKIPS.get("torch")
    passes.TARGET_SKIPS["torch"] = UNMERGED
    try:
        unmerged = model.to_torch(opt_level=2, state_dict=state).eval()
    finally:
        passes.TARGET_SKIPS.pop("torch")
        if saved is not None:
            passes.TARGET_SKIPS["torch"] = saved
    return spec, {"-O2 (siblings merged)": merged, "-O2 without merging": unmerged}


def timed(nets: dict[str, Any], x: Any, rounds: int) -> dict[str, list[float]]:
    import torch

    times: dict[str, list[float]] = {k: [] for k in nets}
    with torch.inference_mode():
        a, b = (net(x) for net in nets.values())
        err = float((a - b).abs().max() / a.abs().max())
        if err > 1e-4:
            raise SystemExit(f"the variants differ: relative difference {err:.1e}")
        for net in nets.values():
            for _ in range(3):
                net(x)
        for r in range(rounds):
            for k in list(nets) if r % 2 == 0 else list(nets)[::-1]:
                time.sleep(0.2)
                best = float("inf")
                for _ in range(3):
                    t = time.perf_counter()
                    nets[k](x)
                    best = min(best, time.perf_counter() - t)
                times[k].append(best)
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="googlenet,inception_v3", help=f"of {', '.join(SPECS)}")
    p.add_argument("--batch", type=int, action="append", help="repeatable (default 1 and 16)")
    p.add_argument("--rounds", type=int, default=11)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torchvision_shim()
    import torch

    torch.set_num_threads(args.threads)
    if warning := busy_machine(args.threads):
        print(warning, file=sys.stderr)
    print("| model | batch | variant | median ms | p10 | p90 | speed vs merged |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for name in args.models.split(","):
        for batch in args.batch or [1, 16]:
            spec, nets = variants(name)
            x = torch.randn(batch, 3, spec.size, spec.size)
            times = timed(nets, x, args.rounds)
            base = statistics.median(next(iter(times.values())))
            for k, ts in times.items():
                q, med = statistics.quantiles(ts, n=10), statistics.median(ts)
                print(
                    f"| {name} | {batch} | {k} | {med * 1e3:.1f} | {q[0] * 1e3:.1f} | "
                    f"{q[-1] * 1e3:.1f} | {base / med:.2f}× |"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
