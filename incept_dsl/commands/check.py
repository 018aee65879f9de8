"""`incept-dsl check FILE...`: parse and shape-check; print each model's inputs, outputs, params."""

from __future__ import annotations

import argparse

from incept_dsl.api_args import display_path
from incept_dsl.commands.common import add_model_arguments, parse_sets, program_file
from incept_dsl.text import fmt_shape

HELP = "parse and shape-check files; print each model's inputs, outputs and parameter count"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p, many=True, opt_levels=False)


def run(args: argparse.Namespace) -> int:
    from incept_dsl.api import load, load_all, parse_shape
    from incept_dsl.errors import InceptError

    sets = parse_sets(args.sets)
    shape = parse_shape(args.input_shape) if args.input_shape else None
    for file in args.file:  # every FILE exists before any is checked
        program_file(file)
    failed = 0
    for file in args.file:
        try:
            if args.model or shape is not None:
                models = [load(file, model=args.model, params=sets, input_shape=shape)]
            else:
                models = load_all(file, params=sets)
        except InceptError as err:
            import sys

            print(err.render(), file=sys.stderr)
            failed += 1
            continue
        if not models:
            print(f"{display_path(file)}: no model (a file of blocks for `import`)")
        for m in models:
            print(f"{display_path(str(m.source_path))}: model {m.name}")
            print("  inputs:  " + ", ".join(f"{k} {fmt_shape(v)}" for k, v in m.inputs.items()))
            print("  outputs: " + ", ".join(f"{k} {fmt_shape(v)}" for k, v in m.outputs.items()))
            if m.aux:
                print(
                    "  aux:     "
                    + ", ".join(f"{k} {fmt_shape(s)} (weight {w:g})" for k, (s, w) in m.aux.items())
                )
                print(
                    f"  params:  {m.param_count():,} ({m.param_count(include_aux=False):,} "
                    "without aux heads)"
                )
            else:
                print(f"  params:  {m.param_count():,}")
    return 1 if failed else 0
