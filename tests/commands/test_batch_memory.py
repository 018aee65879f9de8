"""`bench --batch N` (`incept_dsl.commands.batch_memory`): a batch that cannot fit in memory is a
usage error before any tensor is made, never an internal error or an out-of-memory kill."""

from __future__ import annotations

from pathlib import Path

import pytest

import incept_dsl
from incept_dsl.cli import main
from incept_dsl.commands import batch_memory
from incept_dsl.commands.batch_memory import bytes_per_sample, check_batches_fit
from incept_dsl.errors import UsageError

TINY = """model tiny {
    input image: 3x16x16
    output y = image -> conv(8, 3) -> avgpool(global) -> flatten -> linear(3)
}
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.incept"
    p.write_text(TINY)
    return p


def test_a_huge_batch_is_a_usage_error(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", str(tiny), "--batch", "100000000", "--rounds", "1"]) == 2
    err = capsys.readouterr().err
    assert "--batch 100000000 is too large for memory" in err
    assert "internal error" not in err


def test_the_estimate_is_a_lower_bound(tiny: Path) -> None:
    m = incept_dsl.load(tiny)
    # fp32 input 3×16×16 and the largest tensor 8×16×16, twice
    assert bytes_per_sample(m, ["fp32"]) == 4 * 3 * 16 * 16 + 2 * 4 * 8 * 16 * 16
    assert bytes_per_sample(m, ["bf16"]) == 4 * 3 * 16 * 16 + 2 * 2 * 8 * 16 * 16


def test_batches_within_memory_pass_and_the_first_too_large_is_named(
    tiny: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = incept_dsl.load(tiny)
    per = bytes_per_sample(m, ["fp32"])
    monkeypatch.setattr(batch_memory, "device_memory", lambda device: 100 * per)
    check_batches_fit(m, [1, 100], "cpu", ["fp32"])
    with pytest.raises(UsageError, match=r"--batch 101 .* use --batch 100 or less"):
        check_batches_fit(m, [1, 101, 10**9], "cpu", ["fp32"])


def test_the_machine_memory_is_known_here() -> None:
    total = batch_memory.device_memory("cpu")
    assert total is None or total > 2**20
