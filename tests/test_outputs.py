"""Writing outputs (`incept_dsl.outputs`): atomic, never over an input, the right file type."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import pytest

from incept_dsl.errors import UsageError
from incept_dsl.outputs import atomic_writer, check_output, write_output


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_write_output_replaces_the_whole_file(tmp_path: Path) -> None:
    p = tmp_path / "out.json"
    p.write_text("old content that is longer than the new one")
    write_output(p, "new")
    assert p.read_text() == "new"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("exc", [KeyboardInterrupt, RuntimeError, OSError])
def test_an_interrupted_write_leaves_the_old_file_whole(
    tmp_path: Path, exc: type[BaseException]
) -> None:
    p = tmp_path / "out.onnx"
    p.write_bytes(b"the old model")
    with pytest.raises((exc, UsageError)), atomic_writer(p) as f:
        f.write(b"half of a new mod")
        raise exc("interrupted")
    assert p.read_bytes() == b"the old model"
    assert _leftovers(tmp_path) == []


def test_an_interrupted_first_write_leaves_no_file(tmp_path: Path) -> None:
    p = tmp_path / "new.onnx"
    with pytest.raises(KeyboardInterrupt), atomic_writer(p) as f:
        f.write(b"half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_permissions_of_a_replaced_file_are_kept(tmp_path: Path) -> None:
    p = tmp_path / "out.py"
    p.write_text("old")
    p.chmod(0o640)
    write_output(p, "new")
    assert stat.S_IMODE(p.stat().st_mode) == 0o640


def test_a_new_file_gets_the_umask_permissions(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_output(tmp_path / "new.py", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.py").stat().st_mode) == 0o640


def test_a_symlink_is_written_through(tmp_path: Path) -> None:
    (tmp_path / "real.json").write_text("old")
    (tmp_path / "link.json").symlink_to("real.json")
    write_output(tmp_path / "link.json", "new")
    assert (tmp_path / "link.json").is_symlink()
    assert (tmp_path / "real.json").read_text() == "new"


def test_missing_folders_are_made(tmp_path: Path) -> None:
    write_output(tmp_path / "a" / "b" / "out.json", "x")
    assert (tmp_path / "a" / "b" / "out.json").read_text() == "x"


def test_check_output_refuses_every_input(tmp_path: Path) -> None:
    main = tmp_path / "m.incept"
    main.write_text("model")
    lib = tmp_path / "lib.incept"
    lib.write_text("blocks")
    os.link(main, tmp_path / "hard.json")
    (tmp_path / "soft.json").symlink_to(lib)
    for target in (main, lib, tmp_path / "hard.json", tmp_path / "soft.json"):
        with pytest.raises(UsageError, match="input file"):
            check_output(target, (".json", ".incept"), [main, lib])
    check_output(tmp_path / "other.json", (".json",), [main, lib])  # a new file is fine


@pytest.mark.parametrize(
    ("name", "suffixes", "message"),
    [
        ("x.svg", (".png",), "ending in .png; got"),
        ("x.xlsx", (".txt", ".md", ".csv"), "ending in .txt, .md, .csv"),
        ("noext", (".py",), "ending in .py"),
    ],
)
def test_check_output_refuses_a_wrong_ending(
    tmp_path: Path, name: str, suffixes: tuple[str, ...], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        check_output(tmp_path / name, suffixes)


def test_check_output_accepts_any_case_of_the_ending(tmp_path: Path) -> None:
    check_output(tmp_path / "FIG.PNG", (".png",))


def test_check_output_refuses_folders_devices_and_paths_under_files(tmp_path: Path) -> None:
    (tmp_path / "d.json").mkdir()
    with pytest.raises(UsageError, match="is a directory"):
        check_output(tmp_path / "d.json", (".json",))
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="file"):
        check_output(tmp_path / "file" / "x.json", (".json",))
    with pytest.raises(UsageError, match="is not a folder"):
        check_output(tmp_path / "file" / "deeper" / "x.json", (".json",))
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "p.json")
        with pytest.raises(UsageError, match="FIFO"):
            check_output(tmp_path / "p.json", (".json",))
        with pytest.raises(UsageError, match="FIFO"):
            write_output(tmp_path / "p.json", "x")


def test_dev_full_is_refused_without_being_replaced() -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("/dev/full does not exist on this system")
    with pytest.raises(UsageError, match="character device"):
        write_output(Path("/dev/full"), "x")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def _open_fds_to(path: Path) -> int:
    """How many of this process's descriptors are open on the file `path` names now."""
    st = path.stat()
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            other = os.stat(f"/proc/self/fd/{fd}")
            count += (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino)
    return count


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc/self/fd")
@pytest.mark.parametrize("size", [10, 2 << 20])
def test_a_large_replaced_file_is_closed_by_a_thread_and_a_small_one_is_not_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """A replaced file of 1 MiB or more is held open across the rename and closed by a thread
    (the kernel frees its blocks there); once that thread is done nothing holds it."""
    import threading

    from incept_dsl import outputs

    p, old = tmp_path / "model.onnx", tmp_path / "old-name"
    p.write_bytes(b"o" * size)
    os.link(p, old)  # a second name for the old file, to look at it after the rename
    held: list[int | None] = []
    real = outputs._release_later

    def spy(fd: int | None) -> None:
        held.append(fd if fd is None else os.fstat(fd).st_ino)
        real(fd)

    monkeypatch.setattr(outputs, "_release_later", spy)
    write_output(p, b"new")
    for t in threading.enumerate():
        if t.name == "incept-dsl free replaced":
            t.join()
    assert held == [old.stat().st_ino if size >= 1 << 20 else None]
    assert p.read_bytes() == b"new" and old.stat().st_size == size
    assert _open_fds_to(old) == 0
    assert _leftovers(tmp_path) == []
