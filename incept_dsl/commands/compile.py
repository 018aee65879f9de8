"""`incept-dsl compile FILE --to TARGET [-o OUT]`: write a backend's output for one model.

Targets are a table (`incept_dsl.commands.targets.TARGETS`): target name -> (file suffixes,
default `-O` level, emitter). An emitter takes the model, the parsed arguments, the output path
and the level, writes the file, and returns a one-line description of what it wrote. Before any
emitter runs, the output path is checked
(`incept_dsl.outputs.check_output`: the suffix fits the target, the folder exists, it is no
input file); every emitter writes atomically.
"""

from __future__ import annotations

import argparse

from incept_dsl.api_args import display_path
from incept_dsl.commands.common import add_model_arguments, load_model, output_path
from incept_dsl.commands.figure_args import add_figure_arguments
from incept_dsl.commands.targets import TARGETS
from incept_dsl.outputs import check_output

HELP = "compile one model to PyTorch, ONNX, a figure, a cost table or the IR as JSON"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)
    p.add_argument("--to", required=True, choices=sorted(TARGETS), help="what to produce")
    p.add_argument("-o", "--output", metavar="OUT", help="output file (default: MODEL.<ext>)")
    p.add_argument(
        "--keep-aux",
        action="store_true",
        help="keep aux heads in exports and tables (they are training-only)",
    )
    table = p.add_argument_group("cost table (--to summary; the format follows the suffix of -o)")
    table.add_argument(
        "--by",
        choices=("layer", "block"),
        default="layer",
        help="one row per layer or per top-level block",
    )
    table.add_argument("--flops", action="store_true", help="add FLOP columns (2 × MACs)")
    p.add_argument(
        "--init",
        default=None,
        help="weight initialisation of the generated module "
        "(fan_in, the default; kaiming, trunc_normal, torch)",
    )
    p.add_argument(
        "--explain", "-v", action="store_true", help="report what each optimisation pass changed"
    )
    add_figure_arguments(p)  # --block, --expand, --depth, --shapes, ... for --to dot|svg|pdf|png
    onnx = p.add_argument_group("ONNX (--to onnx)")
    onnx.add_argument(
        "--opset", type=int, default=None, metavar="N", help="ONNX opset to target (default 18)"
    )
    onnx.add_argument(
        "--weights",
        metavar="CKPT",
        default=None,
        help="state_dict of the -O0 module (.pt, or .npz without torch); default: "
        "fresh weights (--init)",
    )
    onnx.add_argument(
        "--functions",
        action="store_true",
        help="emit each block instance as an ONNX local function",
    )


def run(args: argparse.Namespace) -> int:
    model = load_model(args)
    target = TARGETS[args.to]
    level = target.default_level if args.opt_level is None else args.opt_level
    if args.explain:
        from incept_dsl.commands.explain import explain

        print(explain(model, level, args.keep_aux, args.to))
    out = output_path(args, model.name, target.suffix)
    check_output(out, target.suffixes, model.source_files, f"--to {args.to}")
    what = target.emit(model, args, out, level)
    print(f"wrote {display_path(str(out))} ({what})")
    return 0
