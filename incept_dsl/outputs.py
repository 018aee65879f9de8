"""Writing output files: never over an input, never half a file, always the right file type.

`check_output` is what every command that writes calls before it does the work; it guarantees,
or raises a `UsageError` naming the path: the file name ends in one of the suffixes the format
accepts; its folder exists or can be made (the nearest existing folder above it is a folder; the
missing ones are made when the file is written); the path is not a folder, a device, a FIFO or
anything but a regular file (or nothing yet); and it is none of the program's input files (the
main file and every import, compared as files: symbolic and hard links count).

`write_output` / `atomic_writer` guarantee that the file at the path is either left as it was or
replaced whole: the bytes go to a temporary file in the same folder, which is closed and renamed
over the path (`os.replace`) only when everything was written; on any failure or interruption the
temporary file is removed. Readers see the old file or the whole new one, never a part. There is
no fsync, as in torch.onnx, compilers and linkers: the rename, not a sync, keeps a half-written
file from view (syncing ResNet-50's 100 MB ONNX file took 0.07 s of a 0.48 s export; issue 18).
A symbolic link to a regular file is kept and its target replaced; a replaced file keeps its
permission bits, a new one gets the umask's. A replaced file of 1 MiB or more is freed by a
background thread rather than in the rename (`_hold`), so overwriting a 100 MB model does not
wait for its old blocks to be discarded. A failing write (no space, no permission) is a
`UsageError` naming the path.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from incept_dsl.errors import UsageError
from incept_dsl.reading import file_kind


def check_output(
    path: Path, suffixes: Sequence[str], inputs: Iterable[Path] = (), what: str = "the output"
) -> None:
    """Refuse `path` as an output file unless it is safe to write (see the module doc).

    `suffixes` are the accepted file name endings (lower case, with the dot); `what` names the
    format in the message (`"--to png"`).
    """
    st = _existing(path)
    if st is not None:
        for inp in inputs:
            with contextlib.suppress(OSError, ValueError):
                other = os.stat(inp)
                if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
                    raise UsageError(
                        f"refusing to write {str(path)!r}: it is an input file of "
                        "the program (choose another output path)"
                    )
    if path.suffix.lower() not in suffixes:
        raise UsageError(
            f"{what} writes a file ending in {', '.join(suffixes)}; got "
            f"{str(path)!r} (name the output e.g. {path.stem or 'out'}{suffixes[0]})"
        )
    if st is None:
        _folder_exists(path)


def _existing(path: Path) -> os.stat_result | None:
    """The stat of the regular file at `path` (links followed), None when nothing is there; a
    folder, a device, a FIFO or a socket there is a `UsageError`."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):  # the folder check names the culprit
        return None
    except OSError as exc:
        raise UsageError(f"cannot write {str(path)!r}: {exc.strerror}") from None
    except ValueError:
        raise UsageError(f"cannot write {str(path)!r}: not a valid file name") from None
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(
            f"cannot write {str(path)!r}: it is {file_kind(st.st_mode)}, not a regular file"
        )
    return st


def _folder_exists(path: Path, create: bool = False) -> None:
    """A `UsageError` unless the folder a new file at `path` would go in exists or, with
    `create`, can be made (missing folders are made, as `mkdir -p` would)."""
    folder = Path(os.path.realpath(path)).parent
    if folder.is_dir():
        return
    above = folder
    while not above.exists() and above != above.parent:
        above = above.parent
    if not above.is_dir():
        raise UsageError(f"cannot write {str(path)!r}: {str(above)!r} is not a folder")
    if create:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"cannot write {str(path)!r}: cannot make the folder "
                f"{str(folder)!r}: {exc.strerror}"
            ) from None


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """A binary file whose content replaces `path` when the block ends without an exception."""
    existing = _existing(path)
    if existing is None:
        _folder_exists(path, create=True)
    target = Path(os.path.realpath(path))  # write through a symbolic link, keep the link
    mode = stat.S_IMODE(existing.st_mode) if existing is not None else 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise UsageError(f"cannot write {str(path)!r}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.chmod(tmp, mode)
        old = _hold(target, existing)
        try:
            os.replace(tmp, target)
        finally:
            _release_later(old)
    except OSError as exc:
        _remove(tmp)
        raise UsageError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    except BaseException:
        _remove(tmp)
        raise


#: Replaced files at least this large are freed in a background thread (see `_hold`).
_FREE_LATER_BYTES = 1 << 20


def _hold(target: Path, existing: os.stat_result | None) -> int | None:
    """An open descriptor of the large regular file about to be replaced at `target`, or None.

    Renaming over a file frees its blocks in the rename when that was its last link (about
    0.05 s for a 100 MB file on ext4 mounted with `discard`); while a descriptor is open the
    kernel frees them at its close instead, which `_release_later` does in a background thread.
    POSIX only: on Windows an open file cannot be replaced."""
    if os.name != "posix" or existing is None or existing.st_size < _FREE_LATER_BYTES:
        return None
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None  # unreadable or changed since the check: the rename frees it, as before
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def _release_later(fd: int | None) -> None:
    """Close `fd` (from `_hold`) in a thread, so freeing the replaced file's blocks overlaps the
    caller's next work; the interpreter waits for it at exit (the thread is not a daemon), and
    the kernel would close it at exit anyway, so the old file never lingers."""
    if fd is not None:
        threading.Thread(target=os.close, args=(fd,), name="incept-dsl free replaced").start()


def write_output(path: Path, data: bytes | str) -> None:
    """Replace `path` with `data` (text is written as UTF-8) atomically; see the module doc."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_writer(path) as f:
        f.write(raw)


def _remove(tmp: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
