"""`incept-dsl diff A [B]`: a structural comparison of two models.

incept-dsl diff googlenet.incept -m googlenet -m googlenet_tv   # two models of one file
incept-dsl diff resnet.incept seresnet.incept -m resnet50 -m seresnet50
incept-dsl diff a.incept b.incept                               # each file's default model
"""

from __future__ import annotations

import argparse
import sys

from incept_dsl.commands.common import parse_sets, program_file
from incept_dsl.errors import UsageError

HELP = "compare two models: totals, the blocks and layers that differ, shapes and parameters"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="one .incept file (with --model twice) or two (a bundled name works too)",
    )
    p.add_argument(
        "--model",
        "-m",
        dest="models",
        action="append",
        default=[],
        metavar="NAME",
        help="a model to compare (twice: the first and the second)",
    )
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="K=V",
        help="override a model parameter in both models (repeatable)",
    )
    g = p.add_mutually_exclusive_group()
    for level in (0, 1, 2):
        g.add_argument(
            f"-O{level}",
            dest="opt_level",
            action="store_const",
            const=level,
            help=f"compare the -O{level} graphs" + (" (default)" if level == 0 else ""),
        )
    p.set_defaults(opt_level=0)


def _pairs(files: list[str], models: list[str]) -> list[tuple[str, str | None]]:
    """(file, model) of the two models the arguments name."""
    if len(files) > 2 or len(models) > 2:
        raise UsageError("diff compares two models: give at most two files and two --model")
    if len(files) == 1:
        if len(models) != 2:
            raise UsageError(
                "diff compares two models: with one file, name both (--model A --model B)"
            )
        return [(files[0], models[0]), (files[0], models[1])]
    if len(models) == 1:
        raise UsageError("with two files, give --model for each (twice) or for neither")
    return [(f, models[i] if models else None) for i, f in enumerate(files)]


def run(args: argparse.Namespace) -> int:
    from incept_dsl.api import load
    from incept_dsl.api_args import display_path

    pairs = _pairs(args.files, args.models)
    params = parse_sets(args.sets)
    loaded = [load(program_file(f), model=m, params=params) for f, m in pairs]
    names = [m.name for m in loaded]
    if names[0] == names[1]:
        names = [f"{display_path(f)}:{n}" for (f, _), n in zip(pairs, names, strict=True)]
    pair = (names[0], names[1])
    sys.stdout.write(loaded[0].diff(loaded[1], opt_level=args.opt_level, names=pair))
    return 0
