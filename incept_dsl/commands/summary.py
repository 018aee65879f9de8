"""`incept-dsl summary FILE`: print a model's cost table (per layer or per block)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from incept_dsl.api_args import display_path
from incept_dsl.commands.common import add_model_arguments, load_model

HELP = "print a model's cost table: shapes, activation memory, parameters and multiply-adds"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from incept_dsl.backends.summary.table import FORMATS, VIEWS

    add_model_arguments(p)
    p.add_argument(
        "--format",
        "-f",
        choices=FORMATS,
        default=None,
        help="table format (default: text, or what the suffix of -o names: .txt .md .csv .tex "
        ".json); latex is a booktabs table: the document needs \\usepackage{booktabs}",
    )
    p.add_argument(
        "--by",
        choices=VIEWS,
        default="layer",
        help="one row per IR layer (default) or per top-level block, like GoogLeNet's Table 1 "
        "(the network figure's top-level boxes: a repeat is one block)",
    )
    p.add_argument(
        "--keep-aux",
        action="store_true",
        help="show the rows of aux heads too (totals with and without are always printed)",
    )
    p.add_argument("--flops", action="store_true", help="add FLOP columns (FLOPs = 2 × MACs)")
    p.add_argument(
        "--batch",
        type=_batch,
        default=1,
        metavar="N",
        help="samples per batch (default 1): memory columns, peak activations and the estimated "
        "total scale with N; parameters and MACs (per sample) do not",
    )
    p.add_argument(
        "-o", "--output", metavar="OUT", help="write the table to OUT instead of standard output"
    )


def _batch(text: str) -> int:
    """`--batch`'s value: a whole number >= 1 (argparse reports anything else)."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1; got {text!r}")
    return n


def run(args: argparse.Namespace) -> int:
    from incept_dsl.backends.summary.table import format_for, suffixes_for
    from incept_dsl.outputs import check_output, write_output

    model = load_model(args)
    out = Path(args.output) if args.output else None
    if out is not None:
        check_output(
            out,
            suffixes_for(args.format),
            model.source_files,
            f"a {args.format} table" if args.format else "summary -o",
        )
    table = model.summary(
        opt_level=args.opt_level or 0,
        keep_aux=args.keep_aux,
        by=args.by,
        flops=args.flops,
        batch=args.batch,
    )
    if out is not None:
        fmt = format_for(out, args.format)
        write_output(out, table.render(fmt))
        note = (
            " (a booktabs table: \\usepackage{booktabs} in the preamble)" if fmt == "latex" else ""
        )
        print(f"wrote {display_path(out)}{note}")
    else:
        sys.stdout.write(table.render(args.format or "text"))
    return 0
