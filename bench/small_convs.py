"""Whether `-O2`'s kernel rules for AVX2-only CPUs pay on whole networks: the `-O2` module as
shipped against the same module with the rule off.

    python bench/small_convs.py                 # small convs: the MobileNets, GoogLeNet; batch 1, 4, 16
    python bench/small_convs.py --models resnet50,inception_v3 --batch 1 --rounds 15
    python bench/small_convs.py --rule winograd --models googlenet,resnet50 --tune-allocator

On an AVX2-only CPU the generated `FusedConv2d` runs
- (`--rule small`) a float32 conv of stride 1 and at most `_SMALL_CONV_MACS` (10M) multiply-adds a
  call as PyTorch's GEMM (`addmm` for a 1×1 conv, PyTorch's im2col conv for others) instead of
  oneDNN's fused op, whose fixed cost per call dominates such convs (`bench/conv_kernels.py`
  times each conv); off: `_SMALL_CONV_MACS = 0`;
- (`--rule winograd`) a 3×3 float32 conv of stride 1 with in × out channels ≥ 12,288 and
  `_WINOGRAD_TILES` (64-1,024) output tiles of 4×4 a call as Winograd's F(4×4, 3×3)
  (`bench/winograd.py` times each conv); off: `_WINOGRAD_TILES = (0, 0)`.
Elsewhere the rules are off and both variants run the same kernels. Each model gets the
reference's realistic weights; the two variants' outputs are compared (relative difference below
1e-4) and timed by `peers.sample`, interleaved round by round, each sample the best of three runs
after a `--pause`. Medians and p10/p90 in milliseconds; the last column is the speed of each
variant against the first. With `--tune-allocator`, `incept_dsl.tune_cpu_allocator()` runs
before torch is imported (freed memory stays mapped: no page faults for the temporaries).
Benchmark on a quiet machine: the script warns when the load average exceeds the thread count.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _references import SPECS, on_reference_weights, torchvision_shim  # noqa: E402
from _timing import use_threads  # noqa: E402
from peers import Peer, _first, ab_parser, timed_rows  # noqa: E402

#: rule -> (the generated module's constant, its value with the rule off, what it selects)
RULES = {
    "small": ("_SMALL_CONV_MACS", 0, "small convs ≤ {:,} MACs"),
    "winograd": ("_WINOGRAD_TILES", (0, 0), "Winograd on {} tiles"),
}


def _generated(net: Any) -> Any:
    conv = next(m for m in net.modules() if type(m).__name__ == "FusedConv2d")
    return sys.modules[type(conv).__module__]


def _variant(name: str, net: Any, constant: str, value: Any) -> Peer:
    """`net` under inference mode with the generated module's `constant` set to `value` for the
    call (both variants may share one generated module)."""
    import torch

    generated = _generated(net)

    def run(x: Any) -> Any:
        saved = getattr(generated, constant)
        setattr(generated, constant, value)
        try:
            with torch.inference_mode():
                out = net(torch.from_numpy(x))
        finally:
            setattr(generated, constant, saved)
        return _first(out)

    return Peer(name, run)


def main(argv: list[str] | None = None) -> int:
    models = "mobilenet_v3_small,mobilenet_v3_large,mobilenet_v2,googlenet"
    p = ab_parser(__doc__.split("\n")[0], models, "1, 4 and 16")
    p.add_argument("--rule", choices=sorted(RULES), default="small")
    p.add_argument("--tune-allocator", action="store_true", help="tune_cpu_allocator() first")
    args = p.parse_args(argv)
    if args.tune_allocator:  # before torch is imported
        from incept_dsl.backends.cpu_allocator import tune_cpu_allocator

        print(f"allocator: {tune_cpu_allocator().describe()}")
    torchvision_shim()
    use_threads(args.threads)
    constant, off, label = RULES[args.rule]
    print("| model | batch | variant | median ms | p10 | p90 | speed vs shipped |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for name in args.models.split(","):
        spec = SPECS[name]
        _, model, state = on_reference_weights(spec)
        net = model.to_torch(opt_level=2, state_dict=state).eval()
        shipped = getattr(_generated(net), constant)
        if shipped == off:
            print("the rule is off on this CPU (not AVX2): both variants run the same kernels")
        for batch in args.batch or [1, 4, 16]:
            cands = [
                _variant(f"-O2 as shipped ({label.format(shipped)})", net, constant, shipped),
                _variant("-O2, the rule off: every conv on oneDNN", net, constant, off),
            ]
            table = timed_rows(name, batch, spec.size, cands, args.rounds, args.pause)
            print("\n".join(table), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
