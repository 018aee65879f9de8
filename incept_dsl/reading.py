"""Reading program files: only regular files, at most a size limit, never blocking.

`read_regular_file` guarantees: the path is checked with `os.stat` before it is opened, so a
FIFO, a device (`/dev/zero`, `/dev/urandom`), a socket or a directory is refused without being
opened (nothing waits for a writer, nothing reads an endless stream); the file is then opened
with `O_NONBLOCK` and checked again with `os.fstat`, so swapping the path for a FIFO in between
cannot make it block either; at most `limit + 1` bytes are ever read, whatever size the file
claims (`/proc` files claim 0). Every refusal is an `InceptImportError` (or `InceptLimitError`
for size) located at `span` (the `import` line; None for a file named on the command line) that
names the path and never shows the file's content.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from incept_dsl.errors import InceptImportError, InceptLimitError
from incept_dsl.source import Span

#: Largest program file read, in bytes (the parser's `MAX_SOURCE_CHARS` limits characters).
MAX_SOURCE_BYTES = 5_000_000

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _refuse(path: Path, mode: int, span: Span | None) -> InceptImportError:
    return InceptImportError(f"{path} is {file_kind(mode)}, not an .incept file", span)


def _os_error(path: Path, exc: OSError, span: Span | None) -> InceptImportError:
    """The error for a failed stat/open/read, in words (never Python's exception text)."""
    if exc.errno == errno.ENOENT:
        return InceptImportError(f"no such file: {path}", span)
    if exc.errno == errno.ELOOP:
        return InceptImportError(f"cannot read {path}: a loop of symbolic links", span)
    if exc.errno == errno.ENOTDIR:
        return InceptImportError(f"no such file: {path} (a part of the path is not a folder)", span)
    reason = exc.strerror or type(exc).__name__
    return InceptImportError(f"cannot read {path}: {reason}", span)


def read_regular_file(path: Path, span: Span | None = None, limit: int = MAX_SOURCE_BYTES) -> bytes:
    """The bytes of the regular file `path`, at most `limit` of them (see the module doc)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _os_error(path, exc, span) from None
    except ValueError:  # a NUL byte in the path
        raise InceptImportError(f"cannot read {str(path)!r}: not a valid file name", span) from None
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(path, st.st_mode, span)
    if st.st_size > limit:
        raise _too_large(path, span, limit)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise _os_error(path, exc, span) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # the path was swapped after the first check
            raise _refuse(path, st.st_mode, span)
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise _os_error(path, exc, span) from None
    finally:
        os.close(fd)
    if left <= 0:
        raise _too_large(path, span, limit)
    return b"".join(chunks)


def _too_large(path: Path, span: Span | None, limit: int) -> InceptLimitError:
    return InceptLimitError(
        f"{path} is larger than {limit:,} bytes, the limit for a source file",
        span,
        hint="split it into files joined by `import`",
    )
