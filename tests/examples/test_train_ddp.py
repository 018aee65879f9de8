"""`examples/train_ddp.py` under torchrun with 2 CPU processes (gloo): the replicas end with
identical weights and buffers, they trained (the loss fell), aux heads need no
`find_unused_parameters`, and `--fsdp` trains the same weights as DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import TINY_AUX_PROGRAM

import incept_dsl

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "train_ddp.py"

TINY = TINY_AUX_PROGRAM


def torchrun(args: list[str], nproc: int = 2) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        str(EXAMPLE),
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)


def train(tmp: Path, *extra: str, nproc: int = 2) -> Path:
    """Train TINY on `nproc` processes; the folder with the ranks' state_dicts and metrics."""
    if not (tmp / "tiny.incept").exists():
        (tmp / "tiny.incept").write_text(TINY)
    out = tmp / ("out" + "".join(extra).replace("-", "_"))
    proc = torchrun(
        [
            "--arch",
            str(tmp / "tiny.incept"),
            "--input",
            "3x16x16",
            "--steps",
            "16",
            "--batch-size",
            "16",
            "--train-size",
            "512",
            "--lr",
            "0.05",
            "--threads",
            "1",
            "--out",
            str(out),
            *extra,
        ],
        nproc=nproc,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return out


@pytest.fixture(scope="module")
def tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ddp")


@pytest.fixture(scope="module")
def run(tmp: Path) -> Path:
    return train(tmp)


def test_replicas_are_identical_and_trained(run: Path):
    sd0 = torch.load(run / "rank0.pt")
    sd1 = torch.load(run / "rank1.pt")
    model = incept_dsl.load(run.parent / "tiny.incept")
    torch.manual_seed(0)
    initial = model.to_torch().state_dict()
    assert list(sd0) == list(sd1) == list(initial)
    for key in sd0:
        assert torch.equal(sd0[key], sd1[key]), key
    changed = [k for k in sd0 if k.endswith("weight") and not torch.equal(sd0[k], initial[k])]
    assert len(changed) == sum(1 for k in sd0 if k.endswith("weight"))


def test_loss_fell(run: Path):
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["steps"] == 16
    assert metrics["find_unused_parameters"] is False  # every head is in the training loss
    losses = metrics["step_losses"]
    assert sum(losses[-4:]) < sum(losses[:4])
    assert metrics["held_out_loss_after"] < metrics["held_out_loss_before"]


def test_fsdp_trains_the_same_weights_as_ddp(tmp: Path, run: Path):
    # FSDP2 (one group per top-level scope) on the same shards computes the same averaged
    # gradients as DDP; BN running statistics differ (DDP broadcasts rank 0's), so only the
    # parameters are compared
    sharded = train(tmp, "--fsdp", "--channels-last")  # NHWC batches, contiguous shards
    assert json.loads((sharded / "metrics.json").read_text())["fsdp"] is True
    ddp = torch.load(run / "rank0.pt")
    fsdp0, fsdp1 = torch.load(sharded / "rank0.pt"), torch.load(sharded / "rank1.pt")
    assert list(fsdp0) == list(ddp)
    params = dict(incept_dsl.load(tmp / "tiny.incept").to_torch().named_parameters())
    for key in params:
        assert torch.equal(fsdp0[key], fsdp1[key]), key
        torch.testing.assert_close(fsdp0[key], ddp[key], rtol=1e-4, atol=1e-5, msg=key)


def test_program_error_is_reported_not_a_traceback(tmp_path: Path):
    bad = tmp_path / "bad.incept"
    bad.write_text("model m {\n    input image: 3x16x16\n    output y = image -> covn(8, 3)\n}\n")
    # the program is loaded before joining the process group, so no launcher is needed here
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), "--arch", str(bad), "--steps", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "bad.incept:3:" in proc.stderr and "covn" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.cuda
def test_nccl_on_the_gpus(tmp: Path):
    nproc = min(torch.cuda.device_count(), 2)
    out = train(tmp, "--device", "cuda", "--amp", "--channels-last", nproc=nproc)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == nproc
    assert metrics["held_out_loss_after"] < metrics["held_out_loss_before"]
    states = [torch.load(out / f"rank{r}.pt") for r in range(nproc)]
    for key in states[0]:
        assert all(torch.equal(states[0][key], s[key]) for s in states), key
