"""CPU benchmark: the compiled module at -O0/-O1/-O2 against the reference implementations.

    python bench/cpu.py                                  # every model, batch 1 and 16
    python bench/cpu.py --models googlenet --batch 1 --rounds 10     # a quick run

For each model the reference (torchvision googlenet, inception_v3, resnet50, mobilenet_v2,
mobilenet_v3_small, mobilenet_v3_large; timm inception_resnet_v2) gets Kaiming-normal conv weights and random batch-norm statistics (so no
activation decays into denormals, which would slow every candidate alike and hide the
differences); `incept_dsl.copy_weights` copies them into the compiled -O0 module, and -O1/-O2 get
the -O0 state_dict carried through the passes. Everything runs in one process with
`torch.set_num_threads(2)` (default), interleaved round by round; the tables give median
latencies, throughput, speed-up over the reference's eager NCHW run, and each output's error
relative to the reference's. Optional extra candidates: the reference in channels-last
(`--channels-last`), under `torch.compile` (`--compile`, slow to compile) and in bfloat16
(`--precision both`). Absolute times on a shared machine drift; compare ratios.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _references import SPECS, Spec, realistic, torchvision_shim  # noqa: E402

from incept_dsl.commands.bench import (  # noqa: E402
    Candidate,
    level_candidates,
    measure_errors,
    run_interleaved,
    synchronizer,
    table,
)
from incept_dsl.perf import busy_machine  # noqa: E402


def _torchvision_shim() -> None:
    torchvision_shim()


def candidates(spec: Spec, batch: int, args: argparse.Namespace) -> list[Candidate]:
    """Reference eager (first: the baseline), optional reference variants, then our levels."""
    import copy

    import torch

    import incept_dsl

    model = incept_dsl.load(spec.file, model=spec.model)
    ref = realistic(spec.build())
    ours0 = model.to_torch()
    incept_dsl.copy_weights(ref, ours0)
    precisions = ["fp32", "bf16"] if args.precision == "both" else [args.precision]
    ours = level_candidates(
        model, args.levels, batch, "cpu", precisions, state_dict=ours0.state_dict()
    )
    x = ours[0].inputs
    out = [Candidate(f"{spec.reference} eager", ref, x)]
    if args.channels_last:
        cl = copy.deepcopy(ref).to(memory_format=torch.channels_last)
        out.append(
            Candidate(
                f"{spec.reference} channels_last",
                cl,
                tuple(t.contiguous(memory_format=torch.channels_last) for t in x),
            )
        )
    if args.compile:
        compiled = torch.compile(copy.deepcopy(ref))
        out.append(Candidate(f"{spec.reference} torch.compile", compiled, x))
    if "bf16" in precisions:
        out.append(
            Candidate(
                f"{spec.reference} eager bf16",
                copy.deepcopy(ref).to(torch.bfloat16),
                tuple(t.to(torch.bfloat16) for t in x),
            )
        )
    return out + ours


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", choices=sorted(SPECS), default=list(SPECS))
    p.add_argument("--batch", type=int, nargs="+", default=[1, 16])
    p.add_argument("--levels", type=int, nargs="+", choices=(0, 1, 2), default=[0, 1, 2])
    p.add_argument("--rounds", type=int, default=20, help="timed rounds at batch 1 (default 20)")
    p.add_argument(
        "--rounds-large", type=int, default=6, help="timed rounds at batch > 1 (default 6)"
    )
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", choices=("fp32", "bf16", "both"), default="fp32")
    p.add_argument(
        "--channels-last", action="store_true", help="also time the reference in channels-last"
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="also time torch.compile of the reference (compiles for a minute)",
    )
    args = p.parse_args(argv)

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    _torchvision_shim()
    import torch

    torch.set_num_threads(args.threads)
    if busy := busy_machine(args.threads):
        print(busy, file=sys.stderr)
    print(f"# torch {torch.__version__}, {args.threads} threads, interleaved medians\n")
    if args.precision != "fp32":
        from incept_dsl.backends.cpu_features import onednn_bf16_reason

        if reason := onednn_bf16_reason():  # an AVX2-only CPU: bf16 runs, but not natively
            print(
                f"# bf16: {reason}; -O2 computes its convolutions in float32, the others run "
                "PyTorch's slow bfloat16 path\n"
            )
    for name in args.models:
        spec = SPECS[name]
        for batch in args.batch:
            cands = candidates(spec, batch, args)
            measure_errors(cands, cands[0])
            rounds = args.rounds if batch == 1 else args.rounds_large
            run_interleaved(cands, rounds, args.warmup, synchronizer("cpu"))
            print(
                table(
                    f"## {name} ({spec.file}:{spec.model}), batch {batch}, median of "
                    f"{rounds} rounds",
                    cands,
                    batch,
                )
            )
            print(flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
