"""`examples/train_digits.py`: the small Inception network of examples/digits.incept learns
scikit-learn's bundled handwritten digits (no download) in a short CPU run."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import pytest
import torch

pytest.importorskip("sklearn")

import incept_dsl  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("train_digits", EXAMPLES / "train_digits.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_digits"] = module
    spec.loader.exec_module(module)
    return module


def test_digits_program_shapes():
    model = incept_dsl.load(EXAMPLES / "digits.incept")
    assert model.inputs == {"image": (1, 8, 8)} and model.outputs == {"logits": (10,)}
    net = model.to_torch().eval()
    assert net(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def test_split_is_stratified_normalised_and_seeded(example):
    x_tr, y_tr, x_va, y_va = example.digits_split(seed=0)
    assert x_tr.shape == (1437, 1, 8, 8) and x_va.shape == (360, 1, 8, 8)
    assert abs(x_tr.mean().item()) < 1e-4 and abs(x_tr.std().item() - 1) < 1e-4
    counts = torch.bincount(y_va, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # 20 % of each digit's ~180
    again = example.digits_split(seed=0)
    assert torch.equal(again[2], x_va) and torch.equal(again[3], y_va)
    x = torch.arange(64.0).reshape(1, 1, 8, 8).repeat(50, 1, 1, 1)
    shifted = example.random_shift(x, torch.Generator().manual_seed(0), background=-1.0)
    assert shifted.shape == x.shape and not torch.equal(shifted, x)


def test_short_run_learns_the_digits(example, capsys):
    start = time.perf_counter()
    res = example.main(["--epochs", "4", "--threads", "1", "--seed", "0", "--quiet"])
    elapsed = time.perf_counter() - start
    assert res.train_size == 1437 and res.val_size == 360 and len(res.val_acc) == 4
    assert res.train_loss[-1] < res.train_loss[0]
    assert res.accuracy >= 0.80, res.val_acc  # chance is 10 %
    assert elapsed < 60  # about 5 s alone on one core of the shared 2-vCPU machine
    out = capsys.readouterr().out
    assert "held-out accuracy" in out and "wall time" in out
    again = example.main(["--epochs", "1", "--threads", "1", "--seed", "0", "--quiet"])
    first = example.main(["--epochs", "1", "--threads", "1", "--seed", "0", "--quiet"])
    assert again.train_loss == first.train_loss and again.val_acc == first.val_acc
