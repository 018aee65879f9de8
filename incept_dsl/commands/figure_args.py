"""The figure options on the command line (`render`, `compile --to dot|svg|pdf|png`), and the
`FigureOptions` they make."""

from __future__ import annotations

import argparse

from incept_dsl.backends.figure.dot import FigureOptions


def add_figure_arguments(p: argparse.ArgumentParser) -> None:
    """The figure options, shared by `render` and `compile --to dot|svg|pdf|png`."""
    g = p.add_argument_group("figure options")
    g.add_argument(
        "--block",
        metavar="NAME",
        help="draw one block, as the papers draw modules: NAME is a block (its first "
        "application is drawn) or a block instance's scope (inception_3a)",
    )
    views = g.add_mutually_exclusive_group()
    views.add_argument(
        "--expand", action="store_true", help="draw every op, blocks as labelled clusters"
    )
    views.add_argument(
        "--collapse",
        action="store_true",
        help="one box per top-level block, repeats as 'Block ×n' (the default)",
    )
    views.add_argument(
        "--depth",
        type=int,
        metavar="N",
        help="open blocks and repeats nested less than N deep (1 = --collapse)",
    )
    g.add_argument(
        "--shapes",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="show tensor shapes (default: on)",
    )
    g.add_argument(
        "--rankdir",
        choices=("TB", "BT", "LR", "RL"),
        help="direction of the flow (default: TB; BT for --block)",
    )
    g.add_argument(
        "--font",
        metavar="F",
        default="Helvetica",
        help="font family of the labels (default: Helvetica)",
    )
    g.add_argument(
        "--theme",
        choices=("default", "grayscale"),
        default="default",
        help="colours: colour-blind-safe per op family, or grey levels for print",
    )
    g.add_argument("--no-aux", action="store_true", help="leave out the aux (training) heads")


def options_from_args(args: argparse.Namespace) -> FigureOptions:
    """`FigureOptions` from the command line's figure arguments (absent ones keep defaults)."""
    get = lambda name, default: getattr(args, name, default)  # noqa: E731
    shapes = get("shapes", None)
    return FigureOptions(
        block=get("block", None),
        expand=bool(get("expand", False)),
        collapse=bool(get("collapse", False)),
        depth=get("depth", None),
        shapes=True if shapes is None else shapes,
        rankdir=get("rankdir", None),
        font=get("font", None) or "Helvetica",
        theme=get("theme", None) or "default",
        aux=not get("no_aux", False),
        opt_level=get("opt_level", None) or 0,
    )
