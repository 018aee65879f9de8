"""Train a compiled `.incept` architecture on a synthetic, learnable image task, or on images.

    python examples/train_synthetic.py                      # GoogLeNet, 10 classes, 64x64, CPU
    python examples/train_synthetic.py --device cuda --amp --channels-last --compile
    python examples/train_synthetic.py --arch my_net.incept --model tiny --input 3x32x32
    python examples/train_synthetic.py --data DIR --input 3x64x64   # images in ImageFolder layout

The data is made here, deterministically from `--seed`: class `k` is a sinusoidal grating whose
colour is one of five hues (`k % 5`) and whose orientation is one of `ceil(classes / 5)` angles
(`k // 5`), with random phase, frequency, brightness and per-pixel Gaussian noise. A network must
see both colour and orientation to tell the classes apart; a constant guess scores 1/classes.

`--data DIR` trains on image files instead, read by torchvision's ImageFolder: either
DIR/train/<class>/* and DIR/val/<class>/* (a given split), or DIR/<class>/* alone, of which
`--val-fraction` of each class (default 0.2) is held out, chosen by `--seed`. The number of class
folders replaces `--classes` (and sets the model's `classes` parameter when it has one); images
are resized and cropped to `--input` (RandomResizedCrop and a flip for training, Resize and
CenterCrop for held-out images) and normalised with the ImageNet mean and std. `--train-size` and
`--val-size` do not apply. See examples/image_folder.py.

Every head trains: in training mode the compiled module returns its outputs and aux heads, and
`module.loss(outputs, target)` weights them as the program declares (`aux ... weight 0.3`).
Accuracy is the first `output` head's, on a held-out set, in evaluation mode.

`--device cuda` moves the module and each batch to the GPU (pinned memory, `non_blocking`);
`--amp` autocasts to bfloat16 (`--amp-dtype float16` adds a GradScaler on CUDA);
`--channels-last` converts the module and the batches to NHWC; `--compile` wraps the module in
`torch.compile` (inductor; the first steps include compilation).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import incept_dsl
from incept_dsl.api import parse_shape, parse_value

DEFAULT_ARCH = "googlenet.incept"
#: Preferred models of the default file: the batch-normalised GoogLeNet trains from scratch at a
#: small input; the paper network (fixed 224x224 input, no BN) is the fallback.
DEFAULT_MODELS = ("googlenet_tv", "googlenet")


# ---- data -----------------------------------------------------------------------------------
def synthetic_images(
    n: int, shape: Sequence[int], classes: int, seed: int, noise: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` images of `shape` (C, H, W) and their labels; the same arguments give the same tensors.

    Labels are balanced (`arange(n) % classes`, shuffled). Values are roughly zero-mean, unit
    scale. See the module docstring for what distinguishes the classes.
    """
    c, h, w = shape
    g = torch.Generator().manual_seed(seed)
    labels = (torch.arange(n) % classes)[torch.randperm(n, generator=g)]
    hues = min(classes, 5)
    angles = math.ceil(classes / hues)
    hue = (labels % hues).float() * (2 * math.pi / hues)
    channel = torch.arange(c).float() * (2 * math.pi / max(c, 3))
    colour = torch.cos(hue[:, None] + channel[None, :])  # (n, C) in [-1, 1]
    angle = (labels // hues).float() * (math.pi / angles) + (torch.rand(n, generator=g) - 0.5) * (
        0.25 * math.pi / angles
    )
    freq = 2.0 + 3.0 * torch.rand(n, generator=g)  # cycles per image
    phase = 2 * math.pi * torch.rand(n, generator=g)
    bright = 0.7 + 0.6 * torch.rand(n, generator=g)
    yy, xx = torch.meshgrid(
        torch.linspace(-0.5, 0.5, h), torch.linspace(-0.5, 0.5, w), indexing="ij"
    )
    coord = xx[None] * torch.cos(angle)[:, None, None] + yy[None] * torch.sin(angle)[:, None, None]
    grating = torch.sin(2 * math.pi * freq[:, None, None] * coord + phase[:, None, None])
    images = (colour[:, :, None, None] * (0.6 + 0.4 * grating[:, None])) * bright[
        :, None, None, None
    ]
    images = images + noise * torch.randn(n, c, h, w, generator=g)
    return images.contiguous(), labels


def synthetic_dataset(n: int, shape: Sequence[int], classes: int, seed: int) -> TensorDataset:
    """`synthetic_images` as a `TensorDataset` of (image, label)."""
    return TensorDataset(*synthetic_images(n, shape, classes, seed))


def image_folder():
    """examples/image_folder.py, imported from next to this file (the examples are not a package)."""
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    import image_folder as module

    return module


# ---- model ----------------------------------------------------------------------------------
def pick_model(arch: str, model: str | None) -> tuple[str, tuple[str, ...]]:
    """(model name, its parameter names): `model`, or the file's default model; for the
    default file the first of `DEFAULT_MODELS`. Raises `UsageError` for an unknown name."""
    from incept_dsl.frontend.loader import Loader
    from incept_dsl.ir.build import pick_model as pick
    from incept_dsl.resources import resolve_program_path

    unit = Loader().load_path(resolve_program_path(arch))
    if model is None and arch == DEFAULT_ARCH:
        names = {m.name for m in unit.program.models}
        model = next((m for m in DEFAULT_MODELS if m in names), None)
    chosen = pick(unit, model)
    return chosen.name, tuple(p.name for p in chosen.params)


def load_model(args: argparse.Namespace) -> incept_dsl.Model:
    """The `Model` the arguments name, at `--input`, with `classes` set when it is a parameter.

    Raises `InceptError` (located) when the program does not shape-check at that input, e.g. the
    paper GoogLeNet below 3x224x224 (its aux heads pool 5x5 'valid', its classifier 7x7), and
    `UsageError` when the first output is not a vector of `--classes` logits.
    """
    name, declared = pick_model(args.arch, args.model)
    params: dict[str, Any] = {"classes": args.classes} if "classes" in declared else {}
    for item in args.sets:
        key, _, value = item.partition("=")
        params[key.strip()] = parse_value(value.strip())
    shape = parse_shape(args.input) if args.input else None
    model = incept_dsl.load(args.arch, model=name, params=params, input_shape=shape)
    if len(model.inputs) != 1 or len(next(iter(model.inputs.values()))) != 3:
        raise incept_dsl.UsageError(f"'{name}' must take one C×H×W image input to train on images")
    head, out = next(iter(model.outputs.items()))
    if out != (args.classes,):
        raise incept_dsl.UsageError(
            f"the output '{head}' of '{name}' has shape {'x'.join(map(str, out))}, not "
            f"{args.classes} class scores; pass --classes or --set to match"
        )
    return model


def first_output(outputs: Any, name: str) -> torch.Tensor:
    """The head `name` of what `forward` returned (a tensor or a named tuple)."""
    return outputs if isinstance(outputs, torch.Tensor) else getattr(outputs, name)


# ---- training -------------------------------------------------------------------------------
@dataclass
class History:
    """What a run measured; `main` returns it (the smoke tests read it)."""

    val_loss: list[float] = field(default_factory=list)  # before training, then per epoch
    val_acc: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)  # per step (weighted total)
    train_acc: list[float] = field(default_factory=list)  # per epoch
    epoch_loss: list[float] = field(default_factory=list)  # per epoch, mean of its steps
    images_per_s: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    classes: list[str] = field(default_factory=list)  # --data: the class folders, in label order


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """`torch.autocast` on `device` in `dtype`, or a no-op when `dtype` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def to_device(
    batch: Sequence[torch.Tensor], device: torch.device, channels_last: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = batch
    fmt = torch.channels_last if channels_last and x.dim() == 4 else torch.contiguous_format
    return (x.to(device, memory_format=fmt, non_blocking=True), y.to(device, non_blocking=True))


@torch.no_grad()
def evaluate(
    net: nn.Module,
    loader: DataLoader,
    head: str,
    device: torch.device,
    channels_last: bool,
    amp: torch.dtype | None,
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of head `head` in evaluation mode."""
    net.eval()
    loss_sum, correct, count = 0.0, 0, 0
    for batch in loader:
        x, y = to_device(batch, device, channels_last)
        with autocast(device, amp):
            logits = first_output(net(x), head)
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
        count += len(y)
    return loss_sum / count, correct / count


def batches(loader: DataLoader, epochs: int, max_steps: int | None) -> Iterator[tuple[int, Any]]:
    """(epoch, batch) pairs, stopping after `max_steps` batches in all when given."""
    step = 0
    for epoch in range(epochs):
        for batch in loader:
            if max_steps is not None and step >= max_steps:
                return
            yield epoch, batch
            step += 1


def make_optimizer(params, name: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=0.9, weight_decay=weight_decay, nesterov=True
        )
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def train(args: argparse.Namespace, log=print) -> History:
    """Build, train and evaluate as `args` say; returns the measurements."""
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda but torch.cuda.is_available() is False")
    amp = (
        {"bfloat16": torch.bfloat16, "float16": torch.float16}[args.amp_dtype] if args.amp else None
    )

    folder = image_folder() if args.data else None
    class_names = folder.find_classes(args.data) if folder else []
    if class_names:
        args.classes = len(class_names)
    model = load_model(args)
    head = next(iter(model.outputs))
    shape = next(iter(model.inputs.values()))
    net = model.to_torch(init=args.init).to(device)
    if args.channels_last:
        net = net.to(memory_format=torch.channels_last)
    step_fn = torch.compile(net, backend=args.compile_backend) if args.compile else net
    log(
        f"{model!r}: {sum(p.numel() for p in net.parameters()):,} parameters, heads "
        + ", ".join(f"{h.name} (weight {h.weight:g})" for h in model.heads)
        + f"; device {device}, amp {args.amp_dtype if amp else 'off'}"
        + f", channels_last {args.channels_last}, compile {args.compile}"
    )

    pin = device.type == "cuda"
    if folder is not None:
        train_set, val_set, _ = folder.image_folder_datasets(
            args.data, shape, args.val_fraction, args.seed
        )
        log(
            f"{args.data}: {len(class_names)} classes ({', '.join(class_names[:10])}"
            f"{', ...' if len(class_names) > 10 else ''}), {len(train_set)} training and "
            f"{len(val_set)} held-out images"
        )
    else:
        train_set = synthetic_dataset(args.train_size, shape, args.classes, args.seed)
        val_set = synthetic_dataset(args.val_size, shape, args.classes, args.seed + 1)
    train_loader = DataLoader(
        train_set,
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,
        pin_memory=pin,
        generator=torch.Generator().manual_seed(args.seed),
        num_workers=args.workers,
    )
    val_loader = DataLoader(
        val_set, batch_size=max(args.batch_size, 64), pin_memory=pin, num_workers=args.workers
    )
    steps_per_epoch = len(train_loader)
    total = args.steps if args.steps is not None else args.epochs * steps_per_epoch
    epochs = math.ceil(total / steps_per_epoch) if steps_per_epoch else 0

    opt = make_optimizer(net.parameters(), args.optimizer, args.lr, args.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.lr, total_steps=max(total, 1), pct_start=0.15
    )
    scaler = torch.amp.GradScaler(device.type, enabled=amp is torch.float16)

    hist = History(classes=list(class_names))
    vl, va = evaluate(step_fn, val_loader, head, device, args.channels_last, amp)
    hist.val_loss.append(vl)
    hist.val_acc.append(va)
    log(
        f"before training: val loss {vl:.3f}, val accuracy {va:.1%} (chance {1 / args.classes:.1%})"
    )

    from tqdm import tqdm

    bar = tqdm(
        total=total, disable=not args.progress, unit="step", dynamic_ncols=True, file=sys.stderr
    )
    start = time.perf_counter()
    epoch_start, epoch_images, correct, seen, current = start, 0, 0, 0, 0
    for epoch, batch in batches(train_loader, epochs, total):
        if epoch != current:
            _end_epoch(
                hist,
                step_fn,
                val_loader,
                head,
                device,
                args,
                amp,
                correct,
                seen,
                epoch_images,
                epoch_start,
                current,
                log,
            )
            epoch_start, epoch_images, correct, seen, current = time.perf_counter(), 0, 0, 0, epoch
        step_fn.train()
        x, y = to_device(batch, device, args.channels_last)
        with autocast(device, amp):
            outputs = step_fn(x)
            loss, _parts = net.loss(outputs, y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        sched.step()
        hist.train_loss.append(loss.item())
        correct += (first_output(outputs, head).argmax(1) == y).sum().item()
        seen += len(y)
        epoch_images += len(y)
        hist.steps += 1
        bar.update(1)
        bar.set_postfix(loss=f"{hist.train_loss[-1]:.3f}", acc=f"{correct / seen:.0%}")
    bar.close()
    if seen:
        _end_epoch(
            hist,
            step_fn,
            val_loader,
            head,
            device,
            args,
            amp,
            correct,
            seen,
            epoch_images,
            epoch_start,
            current,
            log,
        )
    hist.seconds = time.perf_counter() - start
    first = sum(hist.train_loss[:10]) / max(len(hist.train_loss[:10]), 1)
    last = sum(hist.train_loss[-10:]) / max(len(hist.train_loss[-10:]), 1)
    log(
        f"done: {hist.steps} steps in {hist.seconds:.1f} s; training loss (mean of 10 steps) "
        f"{first:.3f} -> {last:.3f}; val accuracy {hist.val_acc[0]:.1%} -> {hist.val_acc[-1]:.1%}"
    )
    return hist


def _end_epoch(
    hist: History,
    net,
    val_loader,
    head,
    device,
    args,
    amp,
    correct,
    seen,
    images,
    start,
    epoch,
    log,
) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    steps = images // args.batch_size
    hist.epoch_loss.append(sum(hist.train_loss[-steps:]) / steps)
    hist.images_per_s.append(images / seconds)
    hist.train_acc.append(correct / seen)
    vl, va = evaluate(net, val_loader, head, device, args.channels_last, amp)
    hist.val_loss.append(vl)
    hist.val_acc.append(va)
    log(
        f"epoch {epoch + 1}: train loss {hist.epoch_loss[-1]:.3f}, train accuracy "
        f"{correct / seen:.1%}, val loss {vl:.3f}, val accuracy {va:.1%} "
        f"({seconds:.1f} s, {images / seconds:.0f} images/s)"
    )


# ---- command line ---------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--arch",
        default=DEFAULT_ARCH,
        metavar="FILE",
        help="an .incept file or a bundled architecture (default: %(default)s)",
    )
    p.add_argument(
        "--model",
        default=None,
        metavar="NAME",
        help="the model in FILE (default for googlenet.incept: "
        + " if present, else ".join(DEFAULT_MODELS)
        + ")",
    )
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="K=V",
        help="override a model parameter (repeatable)",
    )
    p.add_argument(
        "--data",
        default=None,
        metavar="DIR",
        help="train on the images of DIR (ImageFolder layout: DIR/train/<class>, DIR/val/<class>, "
        "or DIR/<class> with a held-out split) instead of the synthetic task",
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="--data DIR/<class>: fraction of each class held out (default: %(default)s)",
    )
    p.add_argument(
        "--workers", type=int, default=0, help="DataLoader worker processes (default: %(default)s)"
    )
    p.add_argument("--classes", type=int, default=10, help="(set by the folders with --data)")
    p.add_argument(
        "--input",
        default="3x64x64",
        metavar="CxHxW",
        help="input shape (default: %(default)s; '' keeps the program's)",
    )
    p.add_argument(
        "--init",
        default=None,
        choices=("fan_in", "kaiming", "trunc_normal", "torch"),
        help="weight initialisation (default: the compiler's, fan_in)",
    )
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="stop after this many optimisation steps in all (overrides --epochs)",
    )
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--train-size", type=int, default=2048)
    p.add_argument("--val-size", type=int, default=512)
    p.add_argument("--optimizer", default="sgd", choices=("sgd", "adamw"))
    p.add_argument("--lr", type=float, default=0.05, help="peak of the one-cycle schedule")
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    p.add_argument("--amp", action="store_true", help="autocast (bfloat16 by default)")
    p.add_argument("--amp-dtype", default="bfloat16", choices=("bfloat16", "float16"))
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true", help="torch.compile the module")
    p.add_argument("--compile-backend", default="inductor")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", dest="progress", action="store_false")
    return p


def main(argv: Sequence[str] | None = None) -> History:
    """Parse `argv`, train, and return the `History`.

    Exits 1 with a located program error, 2 with a usage error, as the `incept-dsl` CLI does.
    """
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
