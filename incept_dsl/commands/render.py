"""`incept-dsl render FILE -o fig.{svg,pdf,png,dot}`: draw one model as a figure for a paper.

The format comes from the output file's suffix. `--block NAME` draws one block as the papers draw
modules; `--expand` / `--depth N` open the blocks; see `incept_dsl.backends.figure.dot`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from incept_dsl.api_args import display_path
from incept_dsl.commands.common import add_model_arguments, load_model
from incept_dsl.commands.figure_args import add_figure_arguments, options_from_args
from incept_dsl.commands.targets import TARGETS
from incept_dsl.outputs import check_output

HELP = "draw a model (the network, every op, or one block) as SVG, PDF, PNG or DOT"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)  # -O1/-O2 draw the optimised graph (merged convs, folded BN)
    p.add_argument(
        "-o",
        "--output",
        metavar="FIG",
        help="the figure file: .svg, .pdf, .png or .dot; .tex (TikZ) with --style blocks "
        "(default: MODEL.svg)",
    )
    add_figure_arguments(p)


def run(args: argparse.Namespace) -> int:
    from incept_dsl.backends.figure.dot import format_of
    from incept_dsl.backends.figure.styles import write_styled

    options = options_from_args(args)  # checks the options before the model is loaded
    out = Path(args.output) if args.output else None
    tex = out is not None and out.suffix.lower() == ".tex"
    fmt = "tex" if tex else format_of(out) if out is not None else "svg"
    model = load_model(args)
    if out is None:
        out = Path(f"{model.name}.svg")
    target = TARGETS["tikz" if tex else fmt]
    check_output(out, target.suffixes, model.source_files, f"a {fmt.upper()} figure")
    graph = model.figure_graph(options.opt_level, options.aux)
    what = write_styled(graph, out, options, fmt, model.source_files)
    print(f"wrote {display_path(out)} ({what})")
    return 0
