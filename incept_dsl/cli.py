"""The `incept-dsl` command line. Each subcommand lives in `incept_dsl/commands/<name>.py` and
exports `HELP`, `add_arguments(parser)` and `run(args) -> int`.

Exit codes: 0 success, 1 a program error (printed with its location), 2 a usage error, 3 an
internal compiler error. No Python traceback is shown unless INCEPT_DSL_DEBUG=1.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from incept_dsl import __version__
from incept_dsl.errors import CompilerBug, InceptError, UsageError

#: Subcommands in the order `--help` lists them (module names under incept_dsl.commands).
COMMANDS = (
    "check",
    "compile",
    "summary",
    "diff",
    "render",
    "bench",
    "fmt",
    "list",
    "ops",
    "lsp",
    "preview",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # usage errors exit 2 without a traceback
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _available(names: Sequence[str] = COMMANDS) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for name in names:
        try:
            out.append((name, importlib.import_module(f"incept_dsl.commands.{name}")))
        except ModuleNotFoundError as exc:
            if exc.name != f"incept_dsl.commands.{name}":
                raise
    return out


def _wanted(argv: Sequence[str] | None) -> Sequence[str]:
    """The subcommands whose modules to import: only the one `argv` names, when it starts with a
    subcommand (a command's modules import its backends, which a quick `check` does not need);
    all of them for `--help`, `--version`, a misspelt command or none."""
    if argv and argv[0] in COMMANDS:
        return (argv[0],)
    return COMMANDS


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser; given `argv`, with only the subcommand it names when it names one."""
    parser = _Parser(
        prog="incept-dsl",
        description="Compile .incept architecture descriptions to PyTorch, ONNX, figures and "
        "cost tables.",
    )
    parser.add_argument("--version", action="version", version=f"incept-dsl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, module in _available(_wanted(argv)):
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)  # type: ignore[attr-defined]
        module.add_arguments(p)  # type: ignore[attr-defined]
        p.set_defaults(_run=module.run)  # type: ignore[attr-defined]
    return parser


def _tolerant_streams() -> None:
    """Print file names with undecodable bytes (lone surrogates) as escapes instead of failing."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    _tolerant_streams()
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    debug = os.environ.get("INCEPT_DSL_DEBUG") == "1"
    try:
        return int(args._run(args) or 0)
    except InceptError as err:
        print(err.render(), file=sys.stderr)
        return 1
    except UsageError as err:
        print(f"incept-dsl {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except CompilerBug as err:
        if debug:
            raise
        print(
            f"incept-dsl: internal compiler error: {err}\n(please report it; set "
            "INCEPT_DSL_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 3
    except Exception as err:  # noqa: BLE001 - the CLI never shows a traceback
        if debug:
            raise
        print(
            f"incept-dsl: internal error: {type(err).__name__}: {err}\n(please report it; set "
            "INCEPT_DSL_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
