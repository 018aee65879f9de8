"""The figure options on the command line (`render`, `compile --to dot|svg|pdf|png`), and the
`FigureOptions` they make."""

from __future__ import annotations

import argparse

from incept_dsl.backends.figure.dot import FigureOptions
from incept_dsl.backends.figure.options import STYLES, parse_width


def add_figure_arguments(p: argparse.ArgumentParser) -> None:
    """The figure options, shared by `render` and `compile --to dot|svg|pdf|png`."""
    g = p.add_argument_group("figure options")
    g.add_argument(
        "--block",
        metavar="NAME",
        help="draw one block, as the papers draw modules: NAME is a block instance's scope "
        "(inception_3a), or a block, drawn by its first instance when all its instances have "
        "one form (else an error lists one scope per form)",
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
    _add_page_arguments(g)


def _add_page_arguments(g: argparse._ArgumentGroup) -> None:
    """The options of a figure for a page: its width, title, legend and what a box shows."""
    g.add_argument(
        "--width",
        metavar="W",
        help="lay the figure out for this width: 3.5in (one column of a two-column paper), "
        "7in (the full width), or <n>cm, <n>mm, <n>pt; long chains wrap into columns (rows "
        "with --rankdir LR)",
    )
    g.add_argument("--title", metavar="TEXT", help="a title over the figure")
    g.add_argument(
        "--legend",
        action="store_true",
        help="add a key: the colour of each op family drawn and the conventions used",
    )
    g.add_argument(
        "--costs", action="store_true", help="parameters and multiply-adds (MACs) under each box"
    )
    g.add_argument(
        "--show-norm-act",
        action="store_true",
        help="name the batch norm and activation inside each conv box (3×3 Conv, 64 + BN + ReLU)",
    )
    g.add_argument(
        "--style",
        choices=STYLES,
        default="graph",
        help="graph: boxes and arrows (Graphviz); blocks: PlotNeuralNet-style 3-D blocks "
        "(.svg, or .tex for TikZ)",
    )


def options_from_args(args: argparse.Namespace) -> FigureOptions:
    """`FigureOptions` from the command line's figure arguments (absent ones keep defaults)."""
    get = lambda name, default: getattr(args, name, default)  # noqa: E731
    shapes = get("shapes", None)
    width = get("width", None)
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
        width=parse_width(width) if width is not None else None,
        title=get("title", None),
        legend=bool(get("legend", False)),
        costs=bool(get("costs", False)),
        show_norm_act=bool(get("show_norm_act", False)),
        style=get("style", None) or "graph",
    )
