"""Training throughput (images/s): the compiled GoogLeNet against torchvision's, fp32 and bf16.

    python bench/train_throughput.py                                   # CPU, 64x64, batch 32
    python bench/train_throughput.py --device cuda --input 224 --batch 256 --channels-last

Both networks are the same architecture (`googlenet.incept`'s `googlenet_tv` is torchvision's
GoogLeNet layer for layer, aux heads included) with 10 classes, trained by SGD with momentum on
the weighted loss (main + 0.3 x each aux head) from the same random batch. A step is forward,
loss, backward and optimiser update; `bf16` wraps forward and loss in `torch.autocast`.
Candidates run interleaved, round by round, in one process; the table gives the median
images/s over the rounds and the ratio to torchvision in the same precision. On a shared machine
absolute numbers drift; compare the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import incept_dsl  # noqa: E402
from incept_dsl.perf import busy_machine  # noqa: E402


def _torchvision_googlenet(classes: int) -> torch.nn.Module:
    """torchvision's GoogLeNet with aux heads (CPU torch needs the nms schemas first)."""
    from _references import torchvision_shim

    torchvision_shim()
    from torchvision.models import googlenet

    return googlenet(weights=None, aux_logits=True, init_weights=True, num_classes=classes)


def _tv_loss(out, target) -> torch.Tensor:
    return F.cross_entropy(out.logits, target) + 0.3 * (
        F.cross_entropy(out.aux_logits1, target) + F.cross_entropy(out.aux_logits2, target)
    )


def make_step(
    net: torch.nn.Module,
    loss_fn: Callable,
    x: torch.Tensor,
    y: torch.Tensor,
    dtype: torch.dtype | None,
    compile_: bool,
) -> Callable[[], None]:
    """One training step of `net` on (x, y), as a closure."""
    net.train()
    fwd = torch.compile(net) if compile_ else net
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)

    def step() -> None:
        with torch.autocast(x.device.type, dtype=dtype, enabled=dtype is not None):
            loss = loss_fn(fwd(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--input", type=int, default=64, help="square input size")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=5, help="timed steps per candidate per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--precision", default="fp32,bf16")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile both (slow to compile)")
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cpu" and (busy := busy_machine(torch.get_num_threads())):
        print(busy, file=sys.stderr)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format
    torch.manual_seed(0)
    x = torch.randn(args.batch, 3, args.input, args.input, device=device).to(memory_format=fmt)
    y = torch.randint(0, 10, (args.batch,), device=device)
    model = incept_dsl.load(
        "googlenet.incept",
        model="googlenet_tv",
        params={"classes": 10},
        input_shape=(3, args.input, args.input),
    )

    candidates: dict[str, Callable[[], None]] = {}
    for prec in args.precision.split(","):
        dtype = {"fp32": None, "bf16": torch.bfloat16}[prec]
        ours = model.to_torch().to(device, memory_format=fmt)
        ref = _torchvision_googlenet(10).to(device, memory_format=fmt)
        candidates[f"incept-dsl {prec}"] = make_step(
            ours, lambda o, t, net=ours: net.loss(o, t)[0], x, y, dtype, args.compile
        )
        candidates[f"torchvision {prec}"] = make_step(ref, _tv_loss, x, y, dtype, args.compile)
    for step in candidates.values():  # warm-up (and compilation)
        step(), step()
    sync()
    rates: dict[str, list[float]] = {k: [] for k in candidates}
    for _ in range(args.rounds):
        for name, step in candidates.items():
            sync()
            t = time.perf_counter()
            for _ in range(args.steps):
                step()
            sync()
            rates[name].append(args.steps * args.batch / (time.perf_counter() - t))
    print(
        f"training throughput, {device}, batch {args.batch}, 3x{args.input}x{args.input}, "
        f"channels_last {args.channels_last}, compile {args.compile}, threads "
        f"{torch.get_num_threads()}; median of {args.rounds} rounds x {args.steps} steps"
    )
    print("| candidate | images/s | vs torchvision |\n|---|---:|---:|")
    for name, r in rates.items():
        prec = name.split()[-1]
        ratio = statistics.median(r) / statistics.median(rates[f"torchvision {prec}"])
        print(f"| {name} | {statistics.median(r):.1f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
