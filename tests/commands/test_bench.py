"""`incept-dsl bench`: a table per batch size with every level; usage errors exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
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
    assert (
        main(
            [
                "bench",
                str(tiny),
                "--batch",
                "1",
                "--batch",
                "2",
                "--rounds",
                "2",
                "--warmup",
                "1",
                "--precision",
                "both",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.count("| candidate | median ms |") == 2
    assert "tiny, batch 1, cpu, 2 threads, median of 2 interleaved rounds" in out
    for name in ("-O0", "-O1", "-O2", "-O0 bf16", "-O2 bf16"):
        assert f"| incept-dsl {name} |" in out
    rows = [line for line in out.splitlines() if line.startswith("| incept-dsl -O2 |")]
    assert all(float(r.split("|")[5]) < 1e-4 for r in rows)  # fp32 -O2 error vs -O0


def test_bf16_on_a_cpu_without_its_kernels_says_so(tiny, capsys, monkeypatch):
    from incept_dsl.backends import cpu_features

    monkeypatch.setattr(cpu_features, "onednn_bf16_reason", lambda: "this CPU lacks avx512bw")
    assert (
        main(
            [
                "bench",
                str(tiny),
                "--levels",
                "2",
                "--rounds",
                "1",
                "--warmup",
                "0",
                "--precision",
                "bf16",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "| incept-dsl -O2 bf16 |" in captured.out
    assert "note: this CPU lacks avx512bw" in captured.err and "float32" in captured.err


def test_bf16_errors_of_pytorch_are_usage_errors():
    from incept_dsl.commands.bench import _precision_error
    from incept_dsl.errors import UsageError

    gap = NotImplementedError("\"avg_pool3d_out_frame\" not implemented for 'BFloat16'")
    err = _precision_error(gap, "googlenet", "cpu", ["fp32", "bf16"])
    assert isinstance(err, UsageError) and "bfloat16" in str(err) and "avg_pool3d" in str(err)
    cpu = RuntimeError(
        "mkldnn_convolution: bf16 path needs the cpu support avx_ne_convert or "
        "avx512bw, avx512vl and avx512dq"
    )
    err = _precision_error(cpu, "m", "cpu", ["bf16"])
    assert isinstance(err, UsageError) and "avx512bw" in str(err)
    bug = RuntimeError("size mismatch")
    assert _precision_error(bug, "m", "cpu", ["bf16"]) is bug  # a bug stays an internal error
    assert _precision_error(gap, "m", "cpu", ["fp32"]) is gap


def _lrn_runs_in_bf16() -> bool:
    import torch
    import torch.nn.functional as F

    try:
        F.local_response_norm(torch.ones(1, 4, 2, 2, dtype=torch.bfloat16), 3)
    except (NotImplementedError, RuntimeError):
        return False
    return True


@pytest.mark.skipif(_lrn_runs_in_bf16(), reason="this PyTorch runs lrn in bfloat16 on the CPU")
def test_bench_bf16_of_a_model_pytorch_cannot_run_in_bf16_exits_2(tmp_path, capsys):
    p = tmp_path / "lrn.incept"
    p.write_text(
        "model lrn {\n    input image: 3x8x8\n    output y = image -> conv(4, 3) -> lrn "
        "-> avgpool(global) -> flatten -> linear(3)\n}\n"
    )
    assert main(["bench", str(p), "--rounds", "1", "--warmup", "0", "--precision", "bf16"]) == 2
    err = capsys.readouterr().err
    assert "--precision bf16" in err and "bfloat16" in err and "internal error" not in err


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.parametrize(
    "bad",
    [
        ["--levels", "3"],
        ["--batch", "0"],
        pytest.param(
            ["--device", "cuda"],
            marks=pytest.mark.skipif(
                _has_cuda(), reason="--device cuda is valid where a CUDA device exists"
            ),
        ),
    ],
)
def test_usage_errors_exit_2(tiny, bad, capsys):
    assert main(["bench", str(tiny), *bad]) == 2
    assert "error" in capsys.readouterr().err


def test_bench_warns_on_a_busy_machine_and_not_on_a_quiet_one(tiny, capsys, monkeypatch):
    """A load average above the thread count makes timings lie: bench says so on stderr."""
    import os

    args = ["bench", str(tiny), "--rounds", "1", "--warmup", "0", "--levels", "0", "--threads", "2"]
    monkeypatch.setattr(os, "getloadavg", lambda: (4.2, 3.0, 2.0))
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "machine is busy (load average 4.2 over the last minute" in err
    assert "more than the 2 threads this benchmark uses" in err
    monkeypatch.setattr(os, "getloadavg", lambda: (1.5, 3.0, 2.0))
    assert main(args) == 0
    assert "busy" not in capsys.readouterr().err


def test_the_load_warning_is_silent_where_the_load_average_is_unknown(monkeypatch):
    import os

    from incept_dsl.perf import busy_machine

    def unknown() -> tuple[float, float, float]:
        raise OSError("no load average here")

    monkeypatch.setattr(os, "getloadavg", unknown)
    assert busy_machine(1) is None
    monkeypatch.setattr(os, "getloadavg", lambda: (1.01, 0.0, 0.0))
    assert busy_machine(1) is not None and "1 thread this" in busy_machine(1)


def test_frozen_adds_each_level_compiled_for_inference(tiny, capsys):
    args = ["bench", str(tiny), "--levels", "2", "--frozen", "--rounds", "2", "--warmup", "1"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "note: --frozen: torch.compile compiles each frozen candidate on its first call" in err
    rows = {r.split("|")[1].strip(): r.split("|") for r in out.splitlines() if "incept-dsl" in r}
    assert list(rows) == ["incept-dsl -O2", "incept-dsl -O2 frozen"]
    assert float(rows["incept-dsl -O2 frozen"][5]) < 1e-4  # error against the first candidate


def test_frozen_without_a_cpp_compiler_exits_2(tiny, capsys, monkeypatch):
    from incept_dsl.backends.torch import inference

    monkeypatch.setattr(inference, "compiler_missing", lambda: "no C++ compiler (test)")
    assert main(["bench", str(tiny), "--frozen", "--rounds", "1"]) == 2
    assert "--frozen: no C++ compiler (test)" in capsys.readouterr().err


def test_frozen_with_a_wrong_compiled_output_exits_2(tiny, capsys, monkeypatch):
    from incept_dsl.backends.torch import inference

    def wrong(self, *args):
        raise inference.WrongCompiledOutput("torch.compile with freezing computes Tiny wrongly")

    monkeypatch.setattr(inference.CompiledForInference, "forward", wrong)
    assert main(["bench", str(tiny), "--levels", "2", "--frozen", "--rounds", "1"]) == 2
    err = capsys.readouterr().err
    assert "--frozen: torch.compile with freezing computes Tiny wrongly; leave out" in err


def test_bench_suggests_tune_allocator_when_calls_fault(tmp_path):
    """A 64-channel conv on a 512x512 image writes 64 MiB a call: glibc maps it afresh (above its
    largest mmap threshold), so every call faults in about 16,000 pages."""
    from incept_dsl.backends.cpu_allocator import minor_faults

    if minor_faults() is None:
        pytest.skip("this platform has no getrusage")
    p = tmp_path / "wide.incept"
    p.write_text(
        "model wide {\n    input image: 3x512x512\n"
        "    output y = image -> conv(64, 3) -> avgpool(global) -> flatten -> linear(2)\n}\n"
    )
    # a fresh process: glibc adapts its mmap and trim thresholds to the blocks a process frees,
    # and in a process that has allocated and freed a few hundred MiB of tensors (as the suite
    # has by now) this tensor comes from memory already mapped: 16,385 faults a call in a
    # fresh process, 0 after 400 MiB of 4 MiB tensors and a 30 MiB one came and went. Without
    # huge pages too (64 MiB would be 32 faults); conftest puts this checkout on PYTHONPATH.
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    args = ["bench", str(p), "--levels", "0", "--rounds", "2", "--warmup", "1"]
    r = subprocess.run(
        [sys.executable, "-m", "incept_dsl", *args], capture_output=True, text=True, env=env
    )
    assert r.returncode == 0, r.stderr
    assert "page faults on average" in r.stderr and "--tune-allocator" in r.stderr
