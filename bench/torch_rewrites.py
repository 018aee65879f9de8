"""Which rewrites help PyTorch at -O2: our `-O2` module as `to_torch` builds it (sibling convs
merged) against the same module without `merge-sibling-convs` and `cancel-split-concat` (what
the ONNX target leaves out, `passes.TARGET_SKIPS["onnx"]`).

    python bench/torch_rewrites.py                          # googlenet, inception_v3; batch 1, 16
    python bench/torch_rewrites.py --models googlenet --batch 16 --rounds 9

For each model the reference (torchvision/timm, `_references.SPECS`) gets realistic weights and
`incept_dsl.copy_weights` copies them into our -O0 module; both -O2 variants get its state_dict.
Their outputs are compared (relative difference below 1e-4), then they are timed with `--threads`
threads by `peers.sample`: interleaved round by round (the order rotates), each sample the best
of three runs after a `--pause` (0.2 s). Medians and p10/p90 in milliseconds. Benchmark on a quiet machine: the script
warns when the load average exceeds the thread count.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _references import SPECS, on_reference_weights, torchvision_shim  # noqa: E402
from _timing import use_threads  # noqa: E402
from peers import _torch_peer as torch_peer  # noqa: E402
from peers import ab_parser, timed_rows  # noqa: E402

UNMERGED = ("merge-sibling-convs", "cancel-split-concat")


def variants(name: str) -> tuple[Any, dict[str, Any]]:
    """The model's spec and its two -O2 modules on the reference's weights."""
    from incept_dsl import passes

    spec = SPECS[name]
    _, model, state = on_reference_weights(spec)
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


def main(argv: list[str] | None = None) -> int:
    desc = __doc__.split("\n")[0]
    args = ab_parser(desc, "googlenet,inception_v3", "1 and 16").parse_args(argv)
    torchvision_shim()
    use_threads(args.threads)
    print("| model | batch | variant | median ms | p10 | p90 | speed vs merged |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for name in args.models.split(","):
        spec, nets = variants(name)
        for batch in args.batch or [1, 16]:
            cands = [torch_peer(k, net) for k, net in nets.items()]
            print("\n".join(timed_rows(name, batch, spec.size, cands, args.rounds, args.pause)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
