"""`incept-dsl preview FILE`: a live preview in the browser, served on 127.0.0.1.

One page shows the figure (the network, every op, one block, or the blocks style), the cost
table and the current errors with their source lines; it is redrawn within a second of each save
of FILE or of a file it imports. Needs the `preview` extra: `pip install incept-dsl[preview]`.
See `incept_dsl.preview`.
"""

from __future__ import annotations

import argparse
import sys

from incept_dsl.errors import UsageError

HELP = "serve a live preview (figure, cost table, errors) on 127.0.0.1, redrawn on each save"
#: The modules of the `preview` extra.
EXTRA_MODULES = ("starlette", "uvicorn", "watchfiles", "sse_starlette")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "file",
        metavar="FILE",
        help="an .incept file, or the name of a bundled architecture (e.g. googlenet.incept)",
    )
    p.add_argument("--model", "-m", metavar="NAME", help="the model shown first")
    p.add_argument(
        "--port",
        type=int,
        default=0,
        metavar="N",
        help="the port to listen on (default: a free port, printed with the URL)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="127.0.0.1 (default) or localhost: the preview serves this machine only",
    )
    p.add_argument(
        "--open",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="open the page in the default browser (default: --no-open, print the URL)",
    )


def check_extra() -> None:
    """`UsageError` naming the extra when one of its modules is not installed."""
    import importlib.util

    missing = [m for m in EXTRA_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(
            f"the preview needs {', '.join(missing)}: pip install 'incept-dsl[preview]'"
        )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from incept_dsl.commands.common import program_file
    from incept_dsl.resources import resolve_program_path

    check_extra()
    from incept_dsl.preview.app import create_app
    from incept_dsl.preview.server import bind, check_host, serve
    from incept_dsl.preview.workspace import Workspace

    address = check_host(args.host)
    path = Path(resolve_program_path(program_file(args.file))).resolve()
    ws = Workspace(path, args.model)
    models = ws.models()
    if args.model and models and args.model not in models:
        raise UsageError(f"no model {args.model!r} in {path.name}; models: {', '.join(models)}")
    sock = bind(address, args.port)

    def ready(url: str) -> None:
        print(f"preview of {path.name} at {url} (Ctrl-C stops)", flush=True)
        if args.open:
            import webbrowser

            webbrowser.open(url)

    try:
        serve(create_app(ws), sock, ready)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    return 0
