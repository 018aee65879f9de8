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
        help="table format (default: text, or what the suffix of -o names)",
    )
    p.add_argument(
        "--by",
        choices=VIEWS,
        default="layer",
        help="one row per IR layer (default) or per top-level block, like GoogLeNet's Table 1",
    )
    p.add_argument(
        "--keep-aux",
        action="store_true",
        help="show the rows of aux heads too (totals with and without are always printed)",
    )
    p.add_argument("--flops", action="store_true", help="add FLOP columns (FLOPs = 2 × MACs)")
    p.add_argument(
        "-o", "--output", metavar="OUT", help="write the table to OUT instead of standard output"
    )


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
        opt_level=args.opt_level or 0, keep_aux=args.keep_aux, by=args.by, flops=args.flops
    )
    if out is not None:
        write_output(out, table.render(format_for(out, args.format)))
        print(f"wrote {display_path(out)}")
    else:
        sys.stdout.write(table.render(args.format or "text"))
    return 0
