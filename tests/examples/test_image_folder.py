"""`examples/train_synthetic.py --data DIR`: training on an ImageFolder directory of PNGs that the
tests write themselves (both layouts: DIR/train + DIR/val, and DIR/<class> with a held-out split)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from helpers import TINY_AUX_PROGRAM

pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
COLOURS = {"blue": (20, 40, 220), "green": (30, 200, 40), "red": (230, 30, 20)}


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location(
        "train_synthetic", EXAMPLES / "train_synthetic.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_synthetic"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.incept"
    path.write_text(TINY_AUX_PROGRAM)
    return path


def write_pngs(root: Path, per_class: int, seed: int = 0, size: tuple[int, int] = (20, 14)) -> None:
    """`per_class` noisy solid-colour PNGs of each class in COLOURS, in root/<class>/."""
    g = torch.Generator().manual_seed(seed)
    for name, rgb in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            noise = torch.randint(-30, 31, (size[1], size[0], 3), generator=g)
            pixels = (torch.tensor(rgb) + noise).clamp(0, 255).to(torch.uint8).numpy()
            Image.fromarray(pixels, "RGB").save(root / name / f"{i}.png")


def run(example, tiny: Path, data: Path, *extra: str):
    return example.main(
        ["--arch", str(tiny), "--input", "3x16x16", "--data", str(data), "--batch-size", "4"]
        + ["--threads", "1", "--seed", "3", *extra]
    )


def test_single_folder_with_held_out_split(example, tiny: Path, tmp_path: Path, capsys):
    write_pngs(tmp_path / "images", per_class=5)
    hist = run(example, tiny, tmp_path / "images", "--steps", "2")  # progress bar on
    assert hist.classes == ["blue", "green", "red"] and hist.steps == 2
    assert len(hist.train_loss) == 2 and all(torch.isfinite(torch.tensor(hist.train_loss)))
    assert len(hist.val_acc) == 2 and 0.0 <= hist.val_acc[-1] <= 1.0
    captured = capsys.readouterr()
    # 3 classes override --classes 10; 1 of 5 images per class is held out (fraction 0.2)
    assert "3 classes (blue, green, red), 12 training and 3 held-out images" in captured.out
    assert "2/2" in captured.err  # the tqdm progress bar


def test_train_val_layout_and_transforms(example, tiny: Path, tmp_path: Path, capsys):
    write_pngs(tmp_path / "data" / "train", per_class=4, seed=1)
    write_pngs(tmp_path / "data" / "val", per_class=2, seed=2)
    hist = run(example, tiny, tmp_path / "data", "--steps", "1", "--no-progress")
    assert hist.classes == ["blue", "green", "red"] and hist.steps == 1
    assert "12 training and 6 held-out images" in capsys.readouterr().out

    folder = example.image_folder()
    train_set, val_set, classes = folder.image_folder_datasets(tmp_path / "data", (3, 16, 16))
    x, y = val_set[0]
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32 and y == 0
    assert x[2].mean() > x[0].mean()  # blue after ImageNet normalisation
    x, _ = train_set[5]
    assert x.shape == (3, 16, 16)
    grey, _, _ = folder.image_folder_datasets(tmp_path / "data", (1, 8, 8))
    assert grey[0][0].shape == (1, 8, 8)


def test_held_out_split_is_stratified_and_seeded(example):
    folder = example.image_folder()
    targets = [0] * 10 + [1] * 5 + [2] * 2
    train, val = folder.held_out_indices(targets, 0.2, seed=0)
    assert sorted(train + val) == list(range(17)) and not set(train) & set(val)
    assert [sum(targets[i] == k for i in val) for k in range(3)] == [2, 1, 1]
    assert folder.held_out_indices(targets, 0.2, seed=0) == (train, val)
    assert folder.held_out_indices(targets, 0.2, seed=1) != (train, val)


def test_data_errors_exit_2(example, tiny: Path, tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as exc:
        run(example, tiny, tmp_path / "missing", "--steps", "1")
    assert exc.value.code == 2 and "not a directory" in capsys.readouterr().err
    write_pngs(tmp_path / "d" / "train", per_class=1)
    (tmp_path / "d" / "val" / "blue").mkdir(parents=True)
    with pytest.raises(SystemExit) as exc:
        run(example, tiny, tmp_path / "d", "--steps", "1")
    assert exc.value.code == 2 and "different class folders" in capsys.readouterr().err
