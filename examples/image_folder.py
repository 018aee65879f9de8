"""Images from a directory in torchvision's ImageFolder layout, for `train_synthetic.py --data`.

Two layouts are accepted:

    DIR/train/<class>/*.png   and   DIR/val/<class>/*.png    # a given split (both must exist)
    DIR/<class>/*.png                                          # one folder; a held-out split is made

In the second, a fraction `val_fraction` of each class (at least one image of a class with two or
more) is held out, chosen by `seed`; the same arguments give the same split. Class names are the
sub-folder names in sorted order (ImageFolder's rule), so a class's index is its rank; with a given
split, `train` and `val` must have the same class folders.

`torchvision.datasets.ImageFolder` reads the files (any format PIL opens). Training images get
`RandomResizedCrop` to the model's input size and a random horizontal flip, held-out images
`Resize` (to the size / 0.875, the usual 256 -> 224 ratio) and `CenterCrop`; then `ToTensor` and
`Normalize` with the ImageNet mean and standard deviation. A one-channel model gets greyscale
images, normalised with the mean of the three ImageNet means and standard deviations.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset, Subset

from incept_dsl import UsageError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_LIB: list = []


def torchvision_shim() -> None:
    """Define `torchvision::nms` and `torchvision::qnms` unless torch already knows them.

    torchvision 0.28's wheel here is built for CUDA; on a CPU-only torch its import fails with
    "operator torchvision::nms does not exist" unless those schemas exist first (the same shim
    as bench/_references.py and tests/conftest.py)."""
    try:
        torch.ops.torchvision.nms  # noqa: B018 - probe
    except (AttributeError, RuntimeError):
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _LIB.append(lib)  # keep the library alive


def _class_dirs(root: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))


def split_dirs(root: str | os.PathLike) -> tuple[Path, Path | None]:
    """(train folder, val folder or None): DIR/train and DIR/val when both exist, else (DIR, None)."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"--data {root}: not a directory")
    if (root / "train").is_dir() and (root / "val").is_dir():
        return root / "train", root / "val"
    return root, None


def find_classes(root: str | os.PathLike) -> list[str]:
    """The class names of the folder `root` (see the module docstring), without reading images."""
    train_dir, val_dir = split_dirs(root)
    classes = _class_dirs(train_dir)
    if not classes:
        raise UsageError(f"--data {root}: no class folders in {train_dir}")
    if val_dir is not None and _class_dirs(val_dir) != classes:
        raise UsageError(
            f"--data {root}: train/ and val/ have different class folders "
            f"({', '.join(classes)} vs {', '.join(_class_dirs(val_dir))})"
        )
    return classes


def transforms(shape: Sequence[int], train: bool):
    """The transform for an image of `shape` (C, H, W): see the module docstring."""
    torchvision_shim()
    from torchvision import transforms as T

    c, h, w = shape
    if c not in (1, 3):
        raise UsageError(f"an image folder gives 1- or 3-channel images, not {c}")
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    steps: list = []
    if c == 1:
        steps.append(T.Grayscale(num_output_channels=1))
        mean, std = (sum(mean) / 3,), (sum(std) / 3,)
    if train:
        steps += [T.RandomResizedCrop((h, w), antialias=True), T.RandomHorizontalFlip()]
    else:
        steps += [
            T.Resize((round(h / 0.875), round(w / 0.875)), antialias=True),
            T.CenterCrop((h, w)),
        ]
    return T.Compose([*steps, T.ToTensor(), T.Normalize(mean, std)])


def held_out_indices(targets: Sequence[int], fraction: float, seed: int) -> tuple[list, list]:
    """(train indices, held-out indices): `fraction` of each class held out, chosen by `seed`."""
    g = torch.Generator().manual_seed(seed)
    by_class: dict[int, list[int]] = {}
    for i, t in enumerate(targets):
        by_class.setdefault(int(t), []).append(i)
    train, val = [], []
    for t in sorted(by_class):
        idx = by_class[t]
        order = [idx[j] for j in torch.randperm(len(idx), generator=g).tolist()]
        k = min(max(round(fraction * len(idx)), 1 if len(idx) > 1 else 0), len(idx) - 1)
        val += order[:k]
        train += order[k:]
    return sorted(train), sorted(val)


def image_folder_datasets(
    root: str | os.PathLike, shape: Sequence[int], val_fraction: float = 0.2, seed: int = 0
) -> tuple[Dataset, Dataset, list[str]]:
    """(training set, held-out set, class names) of the folder `root` for a model input of `shape`
    (C, H, W); the sets yield (C x H x W float tensor, class index)."""
    torchvision_shim()
    from torchvision.datasets import ImageFolder

    classes = find_classes(root)
    train_dir, val_dir = split_dirs(root)
    train_set = ImageFolder(str(train_dir), transform=transforms(shape, train=True))
    if val_dir is not None:
        val_set: Dataset = ImageFolder(str(val_dir), transform=transforms(shape, train=False))
        return train_set, val_set, classes
    plain = ImageFolder(str(train_dir), transform=transforms(shape, train=False))
    train_idx, val_idx = held_out_indices(train_set.targets, val_fraction, seed)
    if not val_idx:
        raise UsageError(f"--data {root}: too few images to hold any out")
    return Subset(train_set, train_idx), Subset(plain, val_idx), classes
