"""`incept-dsl lsp`: run the language server on stdin/stdout (for VS Code, Neovim, Helix, ...).

pygls is an optional dependency (the `lsp` extra) and is imported only here, when the command
runs: without it the command says how to install it (a usage error, exit 2).
"""

from __future__ import annotations

import argparse

from incept_dsl.errors import UsageError

HELP = "run the language server (LSP over stdin/stdout) for editors"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--stdio",
        action="store_true",
        help="talk LSP over stdin/stdout (the default and only transport; accepted for clients "
        "that pass it)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        import lsprotocol  # noqa: F401
        import pygls  # noqa: F401
    except ModuleNotFoundError as exc:
        raise UsageError(
            f"the language server needs {exc.name}, which is not installed: "
            "pip install incept-dsl[lsp]"
        ) from None
    from incept_dsl.lsp.server import serve

    serve()
    return 0
