"""Reading sources (`incept_dsl.reading`, `loader.read_source`): regular files only, bounded.

Every special file is refused before it is opened; a swap to a FIFO after the check is caught by
fstat without blocking; no more than the limit + 1 bytes are ever read; every refusal is the
project's own error (exit 1 or 2), never a hang or an internal error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from incept_dsl.cli import main
from incept_dsl.errors import InceptImportError, InceptLimitError
from incept_dsl.frontend.loader import read_source
from incept_dsl.reading import MAX_SOURCE_BYTES, read_regular_file

MODEL = "model m { input x: 3x8x8\n output y = x -> relu }\n"
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")


def _cli(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a subprocess, so a hang fails the test instead of stalling the suite."""
    return subprocess.run(
        [sys.executable, "-m", "incept_dsl", *args],
        cwd=cwd,
        timeout=timeout,
        capture_output=True,
        text=True,
        check=False,
    )


@needs_fifo
def test_check_on_a_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.incept")
    r = _cli("check", "pipe.incept", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "named pipe (FIFO)" in r.stderr and "internal error" not in r.stderr


@needs_fifo
@pytest.mark.parametrize(
    "command", [["check"], ["fmt", "--check"], ["compile", "--to", "json"], ["summary"]]
)
def test_every_command_refuses_a_fifo(tmp_path: Path, command: list[str]) -> None:
    os.mkfifo(tmp_path / "pipe.incept")
    r = _cli(command[0], "pipe.incept", *command[1:], cwd=tmp_path)
    assert r.returncode in (1, 2), r.stderr
    assert "FIFO" in r.stderr and "Traceback" not in r.stderr


@needs_fifo
def test_an_imported_fifo_is_a_located_error(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.incept")
    (tmp_path / "main.incept").write_text('import "pipe.incept"\n' + MODEL)
    r = _cli("check", "main.incept", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.startswith("main.incept:1:1: error: pipe.incept is a named pipe")


@needs_fifo
def test_a_fifo_swapped_in_after_the_check_does_not_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fifo = tmp_path / "pipe.incept"
    os.mkfifo(fifo)
    regular = tmp_path / "regular.incept"
    regular.write_text(MODEL)
    real_stat = os.stat
    # the first check sees a regular file (as if the path were swapped right after it)
    monkeypatch.setattr(
        "incept_dsl.reading.os.stat",
        lambda p, *a, **k: real_stat(regular) if Path(p) == fifo else real_stat(p, *a, **k),
    )
    with pytest.raises(InceptImportError, match="named pipe"):
        read_regular_file(fifo)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_devices_are_refused_before_reading(device: str, tmp_path: Path) -> None:
    if not os.path.exists(device):
        pytest.skip(f"{device} does not exist here")
    with pytest.raises(InceptImportError, match="character device"):
        read_source(Path(device))
    r = _cli("check", device, cwd=tmp_path)
    assert r.returncode == 1 and "character device" in r.stderr


def test_a_device_behind_an_incept_link_is_refused_as_an_import(tmp_path: Path) -> None:
    if not os.path.exists("/dev/zero"):
        pytest.skip("/dev/zero does not exist here")
    (tmp_path / "zero.incept").symlink_to("/dev/zero")
    (tmp_path / "main.incept").write_text('import "zero.incept"\n' + MODEL)
    r = _cli("check", "main.incept", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.startswith("main.incept:1:1: error: ")


def test_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d.incept").mkdir()
    with pytest.raises(InceptImportError, match="is a directory"):
        read_source(tmp_path / "d.incept")
    (tmp_path / "main.incept").write_text('import "d.incept"\n' + MODEL)
    r = _cli("check", "main.incept", cwd=tmp_path)
    assert r.returncode == 1 and "main.incept:1:1: error: d.incept is a directory" in r.stderr


@pytest.mark.parametrize("as_import", [False, True], ids=["input", "import"])
def test_a_symlink_loop_is_the_projects_error(tmp_path: Path, as_import: bool) -> None:
    (tmp_path / "a.incept").symlink_to("b.incept")
    (tmp_path / "b.incept").symlink_to("a.incept")
    (tmp_path / "main.incept").write_text('import "a.incept"\n' + MODEL)
    r = _cli("check", "main.incept" if as_import else "a.incept", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "loop of symbolic links" in r.stderr and "internal error" not in r.stderr
    if as_import:
        assert r.stderr.startswith("main.incept:1:1: error:")
    rc = main(["fmt", str(tmp_path / "a.incept")])
    assert rc == 2


def test_at_most_limit_plus_one_bytes_are_read(tmp_path: Path) -> None:
    p = tmp_path / "f.incept"
    p.write_bytes(b"#" * 10)
    assert read_regular_file(p, limit=10) == b"#" * 10
    with pytest.raises(InceptLimitError, match="larger than 9 bytes"):
        read_regular_file(p, limit=9)


def test_a_file_that_claims_size_zero_is_still_bounded() -> None:
    proc = Path("/proc/self/status")  # a regular file whose stat size is 0
    if not proc.is_file() or proc.stat().st_size != 0:
        pytest.skip("no /proc with zero-size files here")
    with pytest.raises(InceptLimitError, match="larger than 16 bytes"):
        read_regular_file(proc, limit=16)


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "huge.incept"
    with open(p, "wb") as f:  # sparse: no need to write 5 MB
        f.truncate(MAX_SOURCE_BYTES + 1)
    with pytest.raises(InceptLimitError, match="larger than 5,000,000 bytes"):
        read_source(p)
    (tmp_path / "main.incept").write_text('import "huge.incept"\n' + MODEL)
    r = _cli("check", "main.incept", cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.startswith("main.incept:1:1: error: huge.incept is")


def test_missing_and_unreadable_paths(tmp_path: Path) -> None:
    with pytest.raises(InceptImportError, match="no such file"):
        read_source(tmp_path / "missing.incept")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InceptImportError, match="no such file"):
        read_source(tmp_path / "file" / "below.incept")
    with pytest.raises(InceptImportError, match="not a valid file name"):
        read_source(Path("a\0b.incept"))
