"""Whether `-O2`'s rule for small convs pays on whole networks: the `-O2` module as shipped
against the same module with every conv on oneDNN's op (`_SMALL_CONV_MACS = 0`).

    python bench/small_convs.py                 # the MobileNets, GoogLeNet; batch 1, 4, 16
    python bench/small_convs.py --models resnet50,inception_v3 --batch 1 --rounds 15

On an AVX2-only CPU the generated `FusedConv2d` runs a float32 conv of stride 1 and at most
`_SMALL_CONV_MACS` (10M) multiply-adds a call as PyTorch's GEMM (`addmm` for a 1×1 conv,
PyTorch's im2col conv for others) instead of oneDNN's fused op, whose fixed cost per call
dominates such convs (`bench/conv_kernels.py` times each conv). Elsewhere the rule is off and
both variants run the same kernels. Each model gets the reference's realistic weights; the two
variants' outputs are compared (relative difference below 1e-4) and timed by `peers.sample`,
interleaved round by round, each sample the best of three runs after a `--pause`. Medians and
p10/p90 in milliseconds; the last column is the speed of each variant against the first.
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


def _variant(name: str, net: Any, macs: int) -> Peer:
    """`net` under inference mode with the generated module's `_SMALL_CONV_MACS` set to `macs`
    for the call (both variants may share one generated module)."""
    import torch

    conv = next(m for m in net.modules() if type(m).__name__ == "FusedConv2d")
    generated = sys.modules[type(conv).__module__]

    def run(x: Any) -> Any:
        saved = generated._SMALL_CONV_MACS
        generated._SMALL_CONV_MACS = macs
        try:
            with torch.inference_mode():
                out = net(torch.from_numpy(x))
        finally:
            generated._SMALL_CONV_MACS = saved
        return _first(out)

    return Peer(name, run)


def variants(name: str) -> tuple[Any, Any, int]:
    """The model's spec, its -O2 module on the reference's weights, and the shipped threshold."""

    spec = SPECS[name]
    _, model, state = on_reference_weights(spec)
    net = model.to_torch(opt_level=2, state_dict=state).eval()
    conv = next(m for m in net.modules() if type(m).__name__ == "FusedConv2d")
    shipped = sys.modules[type(conv).__module__]._SMALL_CONV_MACS
    return spec, net, shipped


def main(argv: list[str] | None = None) -> int:
    models = "mobilenet_v3_small,mobilenet_v3_large,mobilenet_v2,googlenet"
    args = ab_parser(__doc__.split("\n")[0], models, "1, 4 and 16").parse_args(argv)
    torchvision_shim()
    use_threads(args.threads)
    print("| model | batch | variant | median ms | p10 | p90 | speed vs shipped |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for name in args.models.split(","):
        spec, net, shipped = variants(name)
        if not shipped:
            print("the rule is off on this CPU (not AVX2): both variants run the same kernels")
        for batch in args.batch or [1, 4, 16]:
            cands = [
                _variant(f"-O2 as shipped (small convs ≤ {shipped:,} MACs)", net, shipped),
                _variant("-O2, every conv on oneDNN", net, 0),
            ]
            table = timed_rows(name, batch, spec.size, cands, args.rounds, args.pause)
            print("\n".join(table), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
