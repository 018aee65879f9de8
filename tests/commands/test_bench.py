"""`incept-dsl bench`: a table per batch size with every level; usage errors exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from incept_dsl.cli import main

TINY = """model tiny {
    input image: 3x16x16
    defaults conv(bn = true, act = relu, bias = false)
    output y = image -> conv(8, 3) -> concat { conv(4, 1); conv(4, 1) -> conv(4, 3) }
               -> avgpool(global) -> flatten -> linear(3)
}
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.incept"
    p.write_text(TINY)
    return p


def test_bench_prints_one_table_per_batch(tiny, capsys):
    assert main(["bench", str(tiny), "--batch", "1", "--batch", "2", "--rounds", "2",
                 "--warmup", "1", "--precision", "both"]) == 0
    out = capsys.readouterr().out
    assert out.count("| candidate | median ms |") == 2
    assert "tiny, batch 1, cpu, 2 threads, median of 2 interleaved rounds" in out
    for name in ("-O0", "-O1", "-O2", "-O0 bf16", "-O2 bf16"):
        assert f"| incept-dsl {name} |" in out
    rows = [line for line in out.splitlines() if line.startswith("| incept-dsl -O2 |")]
    assert all(float(r.split("|")[5]) < 1e-4 for r in rows)  # fp32 -O2 error vs -O0


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.parametrize("bad", [
    ["--levels", "3"], ["--batch", "0"],
    pytest.param(["--device", "cuda"], marks=pytest.mark.skipif(
        _has_cuda(), reason="--device cuda is valid where a CUDA device exists")),
])
def test_usage_errors_exit_2(tiny, bad, capsys):
    assert main(["bench", str(tiny), *bad]) == 2
    assert "error" in capsys.readouterr().err
