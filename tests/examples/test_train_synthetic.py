"""`examples/train_synthetic.py`: the synthetic data, a short training run that learns, and
program errors reported with their location (exit 1)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from helpers import TINY_AUX_PROGRAM

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "train_synthetic.py"

TINY = TINY_AUX_PROGRAM


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("train_synthetic", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_synthetic"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.incept"
    path.write_text(TINY)
    return path


def test_synthetic_data_is_deterministic_balanced_and_class_dependent(example):
    x, y = example.synthetic_images(200, (3, 16, 16), 10, seed=5)
    x2, y2 = example.synthetic_images(200, (3, 16, 16), 10, seed=5)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert x.shape == (200, 3, 16, 16) and torch.bincount(y).tolist() == [20] * 10
    x3, _ = example.synthetic_images(200, (3, 16, 16), 10, seed=6)
    assert not torch.equal(x, x3)
    # colour alone separates k from k+1 (hues differ); orientation separates k from k+5
    means = torch.stack([x[y == k].mean(dim=(0, 2, 3)) for k in range(10)])
    assert (means[0] - means[1]).abs().max() > 0.3
    assert (means[0] - means[5]).abs().max() < 0.2


def test_short_run_learns(example, tiny: Path, capsys):
    hist = example.main(
        [
            "--arch",
            str(tiny),
            "--input",
            "3x16x16",
            "--steps",
            "40",
            "--batch-size",
            "32",
            "--train-size",
            "640",
            "--val-size",
            "256",
            "--lr",
            "0.05",
            "--no-progress",
            "--threads",
            "2",
        ]
    )
    assert hist.steps == 40 and len(hist.train_loss) == 40
    assert len(hist.val_acc) == 1 + len(hist.epoch_loss) == 1 + 2  # 20 steps per epoch
    assert sum(hist.train_loss[-5:]) < sum(hist.train_loss[:5])
    assert hist.val_loss[-1] < hist.val_loss[0]
    assert hist.val_acc[-1] > hist.val_acc[0] + 0.15
    out = capsys.readouterr().out
    assert "side (weight 0.3)" in out and "val accuracy" in out


def test_program_errors_exit_1_with_location(example, capsys):
    # the paper GoogLeNet's aux heads pool 5x5 'valid': a 64x64 input is too small for them
    with pytest.raises(SystemExit) as exc:
        example.main(
            ["--model", "googlenet", "--input", "3x64x64", "--steps", "1", "--no-progress"]
        )
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "googlenet.incept:" in err and "error:" in err


@pytest.mark.cuda
def test_cuda_amp_channels_last_run(example, tiny: Path):
    hist = example.main(
        [
            "--arch",
            str(tiny),
            "--input",
            "3x16x16",
            "--steps",
            "30",
            "--batch-size",
            "32",
            "--train-size",
            "640",
            "--val-size",
            "256",
            "--device",
            "cuda",
            "--amp",
            "--channels-last",
            "--no-progress",
        ]
    )
    assert hist.steps == 30
    assert hist.val_loss[-1] < hist.val_loss[0]


def test_usage_errors_exit_2(example, tiny: Path, capsys):
    with pytest.raises(SystemExit) as exc:
        example.main(["--arch", str(tiny), "--model", "tinny", "--no-progress"])
    assert exc.value.code == 2 and "did you mean" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # 10 classes of data, 7 logits
        example.main(["--arch", str(tiny), "--input", "3x16x16", "--set", "classes=7"])
    assert exc.value.code == 2 and "not 10 class scores" in capsys.readouterr().err
