"""`incept-dsl fmt FILE... [--check | --diff | --stdout]`: canonical formatting (`incept_dsl.fmt`).

Without options each file is rewritten in place when its formatting changes. `--check` writes
nothing and exits 1 when a file would change; `--diff` prints a unified diff instead of writing;
`--stdout` prints the formatted text. A file that does not parse is reported like `check` does
(exit 1) and left untouched; a path that is no readable regular file (missing, a FIFO, a device,
a folder, a symbolic-link loop, past the size limit) is a usage error (exit 2). Files are
rewritten atomically. A formatted text past the source size limit (deep nesting indents every
line) is neither written nor printed: it could not be read back; that file is reported (exit 1)
and left untouched.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

HELP = "format .incept files canonically (in place; --check to only verify)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="+", metavar="FILE", help="an .incept file")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a file is not formatted"
    )
    mode.add_argument("--diff", action="store_true", help="print a diff instead of writing")
    mode.add_argument("--stdout", action="store_true", help="print the formatted text")


def run(args: argparse.Namespace) -> int:
    from incept_dsl.errors import InceptError, UsageError
    from incept_dsl.fmt import format_text
    from incept_dsl.frontend.loader import read_source
    from incept_dsl.outputs import write_output

    status = 0
    for name in args.file:
        path = Path(name)
        try:
            src = read_source(path)  # regular files only, size-limited: never blocks
        except InceptError as err:
            raise UsageError(err.message) from None
        try:
            new = format_text(src.text, name)
        except InceptError as err:
            print(err.render(), file=sys.stderr)
            status = 1
            continue
        too_big = _past_limit(new)
        if too_big:  # never the case for an unchanged file, which was read
            print(f"{name}: error: {too_big}; the file is left as it is", file=sys.stderr)
            status = 1
            continue
        old = src.text  # compared as read: a file with \r\n line ends is not formatted
        if args.stdout:
            sys.stdout.write(new)
        elif new == old:
            if not args.check and not args.diff:
                print(f"{name}: already formatted", file=sys.stderr)
        elif args.check:
            print(f"{name}: would reformat", file=sys.stderr)
            status = 1
        elif args.diff:
            sys.stdout.writelines(
                difflib.unified_diff(
                    old.splitlines(keepends=True),
                    new.splitlines(keepends=True),
                    f"{name} (original)",
                    f"{name} (formatted)",
                )
            )
        else:
            write_output(path, new)  # atomic: an interrupted run leaves the old file whole
            print(f"{name}: reformatted", file=sys.stderr)
    return status


def _past_limit(text: str) -> str | None:
    """Why `text` cannot be a program file (longer than a source file may be), None if it can."""
    from incept_dsl.frontend.parser import MAX_SOURCE_CHARS
    from incept_dsl.reading import MAX_SOURCE_BYTES

    size = len(text.encode("utf-8"))
    if size <= MAX_SOURCE_BYTES and len(text) <= MAX_SOURCE_CHARS:
        return None
    return (
        f"the formatted text would be {size:,} bytes, past the {MAX_SOURCE_BYTES:,}-byte limit "
        "of a source file, so it could not be read back (deep nesting indents every line; "
        "flatten the nesting, e.g. with named blocks)"
    )
