"""`incept-dsl render FILE -o fig.{svg,pdf,png,dot}`: draw one model as a figure for a paper.

The format comes from the output file's suffix. `--block NAME` draws one block as the papers draw
modules; `--expand` / `--depth N` open the blocks; see `incept_dsl.backends.to_dot`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from incept_dsl.api_args import display_path
from incept_dsl.commands.common import add_model_arguments, load_model

HELP = "draw a model (the network, every op, or one block) as SVG, PDF, PNG or DOT"


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


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)  # -O1/-O2 draw the optimised graph (merged convs, folded BN)
    p.add_argument(
        "-o",
        "--output",
        metavar="FIG",
        help="the figure file: .svg, .pdf, .png or .dot (default: MODEL.svg)",
    )
    add_figure_arguments(p)


def run(args: argparse.Namespace) -> int:
    from incept_dsl.backends.to_dot import format_of, options_from_args, write_figure
    from incept_dsl.commands.compile import SUFFIXES as FIGURE_SUFFIXES
    from incept_dsl.outputs import check_output

    options = options_from_args(args)  # checks the options before the model is loaded
    out = Path(args.output) if args.output else None
    fmt = format_of(out) if out is not None else "svg"
    model = load_model(args)
    if out is None:
        out = Path(f"{model.name}.svg")
    check_output(out, FIGURE_SUFFIXES[fmt], model.source_files, f"a {fmt.upper()} figure")
    print(f"wrote {display_path(out)} ({write_figure(model, out, options, fmt)})")
    return 0
