"""Train a small `.incept` Inception network on scikit-learn's handwritten digits, on CPU.

    python examples/train_digits.py                         # examples/digits.incept, 20 epochs
    python examples/train_digits.py --epochs 5 --threads 1  # a short run

The data ships with scikit-learn (`sklearn.datasets.load_digits`: 1,797 grey 8x8 images of the
digits 0-9, pixel values 0-16), so nothing is downloaded. Pixels are scaled to [0, 1] and then
normalised with the training split's mean and standard deviation. A stratified 20 % of the
images (360) is held out with a fixed seed and never trained on; the accuracy printed at the end
is on those. Training augments with random shifts of up to one pixel (zero padding), uses AdamW
with a one-cycle schedule, and is deterministic for a given `--seed` and `--threads`. One thread is the default: the network
is too small for more to help, and on a shared machine extra threads only wait for each other.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import incept_dsl

DEFAULT_ARCH = str(Path(__file__).resolve().parent / "digits.incept")


@dataclass
class Result:
    """What a run measured; `main` returns it (the tests read it)."""

    train_loss: list[float] = field(default_factory=list)  # per epoch
    val_acc: list[float] = field(default_factory=list)  # per epoch, held-out
    accuracy: float = 0.0  # held-out, after the last epoch
    seconds: float = 0.0  # wall time of training and evaluation (data loading excluded)
    train_size: int = 0
    val_size: int = 0
    parameters: int = 0


def digits_split(
    seed: int, test_size: float = 0.2
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x_train, y_train, x_val, y_val): N x 1 x 8 x 8 float images, normalised with the
    training split's mean and std, and int64 labels; a stratified split fixed by `seed`."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    images = data.images.astype("float32") / 16.0  # pixels are 0..16
    x_tr, x_va, y_tr, y_va = train_test_split(
        images, data.target, test_size=test_size, stratify=data.target, random_state=seed
    )
    x_tr, x_va = torch.from_numpy(x_tr)[:, None], torch.from_numpy(x_va)[:, None]
    mean, std = x_tr.mean(), x_tr.std()
    return (
        (x_tr - mean) / std,
        torch.from_numpy(y_tr).long(),
        (x_va - mean) / std,
        torch.from_numpy(y_va).long(),
    )


def random_shift(x: torch.Tensor, g: torch.Generator, background: float, pixels: int = 1):
    """Each image of `x` shifted by up to `pixels` in each direction, padded with `background`."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pixels,) * 4, value=background)
    dy = torch.randint(0, 2 * pixels + 1, (n,), generator=g)
    dx = torch.randint(0, 2 * pixels + 1, (n,), generator=g)
    rows = (dy[:, None] + torch.arange(h)[None])[:, None, :, None].expand(
        n, x.shape[1], h, w + 2 * pixels
    )
    out = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w)[None])[:, None, None, :].expand(n, x.shape[1], h, w)
    return out.gather(3, cols)


@torch.no_grad()
def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 512) -> float:
    net.eval()
    correct = sum(
        (net(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum().item()
        for i in range(0, len(x), batch)
    )
    return correct / len(x)


def train(args: argparse.Namespace, log=print) -> Result:
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    x_tr, y_tr, x_va, y_va = digits_split(args.seed, args.holdout)
    model = incept_dsl.load(args.arch, model=args.model)
    net = model.to_torch()
    res = Result(
        train_size=len(x_tr),
        val_size=len(x_va),
        parameters=sum(p.numel() for p in net.parameters()),
    )
    log(
        f"{model!r}: {res.parameters:,} parameters; {res.train_size} training and "
        f"{res.val_size} held-out images; {torch.get_num_threads()} CPU thread(s)"
    )
    steps_per_epoch = -(-len(x_tr) // args.batch_size)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch, pct_start=0.2
    )
    g = torch.Generator().manual_seed(args.seed)
    background = float(x_tr.min())  # a blank pixel after normalisation
    start = time.perf_counter()
    for epoch in range(args.epochs):
        net.train()
        order = torch.randperm(len(x_tr), generator=g)
        total = 0.0
        for i in range(0, len(x_tr), args.batch_size):
            idx = order[i : i + args.batch_size]
            x = random_shift(x_tr[idx], g, background) if args.shift else x_tr[idx]
            loss = F.cross_entropy(net(x), y_tr[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        res.train_loss.append(total / len(x_tr))
        res.val_acc.append(accuracy(net, x_va, y_va))
        if args.verbose:
            log(
                f"epoch {epoch + 1}: train loss {res.train_loss[-1]:.3f}, held-out accuracy "
                f"{res.val_acc[-1]:.2%} ({time.perf_counter() - start:.1f} s)"
            )
    res.seconds = time.perf_counter() - start
    res.accuracy = res.val_acc[-1] if res.val_acc else accuracy(net, x_va, y_va)
    wrong = round((1 - res.accuracy) * res.val_size)
    log(
        f"held-out accuracy {res.accuracy:.2%} ({res.val_size - wrong}/{res.val_size}) after "
        f"{args.epochs} epochs; wall time {res.seconds:.1f} s"
    )
    return res


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--arch", default=DEFAULT_ARCH, metavar="FILE", help="(default: %(default)s)")
    p.add_argument("--model", default=None, metavar="NAME", help="the model in FILE")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.01, help="peak of the one-cycle schedule")
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--holdout", type=float, default=0.2, help="held-out fraction (stratified)")
    p.add_argument("--no-shift", dest="shift", action="store_false", help="no augmentation")
    p.add_argument(
        "--threads", type=int, default=1, help="CPU threads (default: %(default)s; 0: torch's)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-q", "--quiet", dest="verbose", action="store_false", help="no per-epoch lines")
    return p


def main(argv: Sequence[str] | None = None) -> Result:
    args = parser().parse_args(argv)
    try:
        return train(args)
    except incept_dsl.InceptError as err:
        print(err, file=sys.stderr)
        raise SystemExit(1) from None
    except incept_dsl.UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
