"""What `incept-dsl compile --to TARGET` can write: one table, `TARGETS`.

Each target has the file name endings its output may have (the first is the default suffix), the
`-O` level it uses when none is given, and its emitter. An emitter takes the model, the parsed
arguments and the output path (already checked by `outputs.check_output`), writes the file
atomically through the model's API and a backend, and returns a one-line description.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from incept_dsl.model import Model
from incept_dsl.outputs import write_output

Emitter = Callable[[Model, argparse.Namespace, Path, int], str]


def emit_torch(model: Model, args: argparse.Namespace, out: Path, level: int) -> str:
    from incept_dsl.backends.torch.codegen import DEFAULT_INIT, INIT_SCHEMES, torch_source
    from incept_dsl.errors import UsageError
    from incept_dsl.ir.ops import param_count

    if args.init is not None and args.init not in INIT_SCHEMES:
        raise UsageError(f"--init must be one of {', '.join(INIT_SCHEMES)}; got {args.init!r}")
    init = args.init or DEFAULT_INIT
    graph = model.optimized(level, keep_aux=args.keep_aux or None)
    origin = model.source_path.name if model.source_path else None
    write_output(out, torch_source(graph, init, origin=origin))
    params = sum(param_count(graph.op(n), graph.attrs(n))[0] for n in graph.nodes())
    return f"PyTorch module {model.name}, -O{level}, {params:,} parameters"


def emit_json(model: Model, args: argparse.Namespace, out: Path, level: int) -> str:
    from incept_dsl.backends.to_json import to_json

    write_output(out, to_json(model.optimized(level, keep_aux=args.keep_aux or None)))
    return f"IR of {model.name} as JSON, -O{level}"


def emit_onnx(model: Model, args: argparse.Namespace, out: Path, level: int) -> str:
    import numpy as np

    from incept_dsl.checkpoints import load_weights

    weights = getattr(args, "weights", None)
    proto = model.to_onnx(
        out,
        opt_level=level,
        state_dict=load_weights(weights, model.graph) if weights else None,
        opset=getattr(args, "opset", None),
        keep_aux=bool(getattr(args, "keep_aux", False)),
        functions=bool(getattr(args, "functions", False)),
        init=getattr(args, "init", None),
        check=True,
    )
    params = sum(int(np.prod(t.dims)) for t in proto.graph.initializer)
    opset = proto.opset_import[0].version
    k = len(proto.functions)
    fn = f", {k} local function{'s' if k > 1 else ''}" if k else ""
    return f"ONNX opset {opset}, -O{level}, {len(proto.graph.node)} nodes{fn}, {params:,} weights"


def emit_figure(model: Model, args: argparse.Namespace, out: Path, level: int) -> str:
    from incept_dsl.backends.figure.dot import format_of
    from incept_dsl.backends.figure.styles import write_styled
    from incept_dsl.commands.figure_args import options_from_args

    fmt = getattr(args, "to", None) or format_of(out)
    fmt = "tex" if fmt == "tikz" else fmt
    options = options_from_args(args)
    if fmt == "tex" and options.style != "blocks":  # TikZ is the blocks style's
        options = dataclasses.replace(options, style="blocks")
    graph = model.figure_graph(options.opt_level, options.aux)
    return write_styled(graph, out, options, fmt, model.source_files)


def emit_summary(model: Model, args: argparse.Namespace, out: Path, level: int) -> str:
    from incept_dsl.backends.summary.table import format_for

    fmt = format_for(out, getattr(args, "format", None))
    s = model.summary(
        opt_level=level,
        keep_aux=bool(getattr(args, "keep_aux", False)),
        by=getattr(args, "by", None) or "layer",
        flops=bool(getattr(args, "flops", False)),
    )
    write_output(out, s.render(fmt))
    t = s.total
    return (
        f"{fmt} cost table of {s.model}, -O{s.opt_level}: {len(s.rows)} rows, "
        f"{t.params:,} params, {t.macs:,} MACs"
    )


@dataclass(frozen=True)
class Target:
    """One `--to` target: its file name endings (the first is the default), its `-O` level when
    none is given, and its emitter."""

    suffixes: tuple[str, ...]
    default_level: int
    emit: Emitter

    @property
    def suffix(self) -> str:
        return self.suffixes[0]


TARGETS: dict[str, Target] = {
    "torch": Target((".py",), 0, emit_torch),
    "json": Target((".json",), 0, emit_json),
    "onnx": Target((".onnx",), 1, emit_onnx),
    "dot": Target((".dot", ".gv"), 0, emit_figure),
    "svg": Target((".svg",), 0, emit_figure),
    "pdf": Target((".pdf",), 0, emit_figure),
    "png": Target((".png",), 0, emit_figure),
    "tikz": Target((".tex",), 0, emit_figure),  # the blocks style as TikZ (`styles`)
    "summary": Target((".txt", ".md", ".csv", ".tex", ".json"), 0, emit_summary),
}
