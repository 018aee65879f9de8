"""`incept-dsl compile FILE --to TARGET [-o OUT]`: write a backend's output for one model.

Targets are a table (`TARGETS`): target name -> (default file suffix, emitter). An emitter takes
the model, the parsed arguments and the output path, writes the file, and returns a one-line
description of what it wrote. Before any emitter runs, the output path is checked
(`incept_dsl.outputs.check_output`: the suffix fits the target, the folder exists, it is no
input file); every emitter writes atomically.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from incept_dsl.api_args import display_path
from incept_dsl.commands.common import add_model_arguments, load_model, output_path
from incept_dsl.outputs import check_output, write_output

HELP = "compile one model to PyTorch, ONNX, a figure, a cost table or the IR as JSON"

Emitter = Callable[[Any, argparse.Namespace, Path], str]

#: target -> (default suffix, "module:function" of its emitter)
TARGETS: dict[str, tuple[str, str]] = {
    "torch": (".py", "incept_dsl.commands.compile:emit_torch"),
    "json": (".json", "incept_dsl.commands.compile:emit_json"),
    "onnx": (".onnx", "incept_dsl.backends.to_onnx:emit"),
    "dot": (".dot", "incept_dsl.backends.to_dot:emit"),
    "svg": (".svg", "incept_dsl.backends.to_dot:emit"),
    "pdf": (".pdf", "incept_dsl.backends.to_dot:emit"),
    "png": (".png", "incept_dsl.backends.to_dot:emit"),
    "summary": (".txt", "incept_dsl.backends.summary:emit"),
}


#: target -> the file name endings its output may have (the first is the default suffix's)
SUFFIXES: dict[str, tuple[str, ...]] = {
    "torch": (".py",),
    "json": (".json",),
    "onnx": (".onnx",),
    "dot": (".dot", ".gv"),
    "svg": (".svg",),
    "pdf": (".pdf",),
    "png": (".png",),
    "summary": (".txt", ".md", ".csv", ".tex", ".json"),
}


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
    from incept_dsl.commands.render import add_figure_arguments

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


def _emitter(target: str) -> Emitter:
    module, func = TARGETS[target][1].split(":")
    return getattr(importlib.import_module(module), func)


def run(args: argparse.Namespace) -> int:
    model = load_model(args)
    if args.explain:
        from incept_dsl.passes.report import explain

        print(explain(model.graph, args.opt_level or 0, args.keep_aux))
    out = output_path(args, model.name, TARGETS[args.to][0])
    check_output(out, SUFFIXES[args.to], model.source_files, f"--to {args.to}")
    what = _emitter(args.to)(model, args, out)
    print(f"wrote {display_path(str(out))} ({what})")
    return 0


def emit_torch(model: Any, args: argparse.Namespace, out: Path) -> str:
    from incept_dsl.backends.to_torch import INIT_SCHEMES
    from incept_dsl.errors import UsageError

    if args.init is not None and args.init not in INIT_SCHEMES:
        raise UsageError(f"--init must be one of {', '.join(INIT_SCHEMES)}; got {args.init!r}")
    level = args.opt_level or 0
    source = model.torch_source(opt_level=level, init=args.init, keep_aux=args.keep_aux or None)
    write_output(out, source)
    from incept_dsl.ir.ops import param_count

    g = model.optimized(level, keep_aux=args.keep_aux or None)
    params = sum(param_count(g.op(n), g.attrs(n))[0] for n in g.nodes())
    return f"PyTorch module {model.name}, -O{level}, {params:,} parameters"


def emit_json(model: Any, args: argparse.Namespace, out: Path) -> str:
    from incept_dsl.backends.to_json import to_json

    level = args.opt_level or 0
    write_output(out, to_json(model.optimized(level, keep_aux=args.keep_aux or None)))
    return f"IR of {model.name} as JSON, -O{level}"
