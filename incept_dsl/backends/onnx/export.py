"""ONNX backend: the IR -> an `onnx.ModelProto` built with `onnx.helper` (no tracing).

`export(graph, weights, opset, metadata, ...)` takes the graph `incept_dsl.driver.lower` made at
`-O<opt_level>` (aux heads pruned unless `keep_aux`) and `weights`, its state_dict as numpy arrays,
as `Model.to_onnx` passes them: the given `-O0` state_dict (torch tensors or numpy arrays, keyed
like the -O0 torch module's state_dict) carried through the optimiser's weight-changing passes;
or, without one, a fresh initialisation in numpy (`init_numpy`, no torch import), seeded, so
repeatable. It guarantees:

- the graph lowered node by node in the IR's stable topological order through one table, `LOWER`
  (an entry per op of `ir.ops.OPS`; in `backends.onnx.lowering`, importable from here);
- names from the source: each node is named after its IR scope (`inception_3a.branch_2.conv_1`),
  each weight initializer after its state_dict key (`inception_3a.branch_2.conv_1.weight`), each
  intermediate tensor after the scope that makes it, the graph's inputs and outputs after the
  program's `input` and `output` names; an initializer holds its tensor's numbers in the
  tensor's shape, except that a per-channel vector of an image is held C×1×1 and the weight of a
  MatMul (a linear on tokens, an attention's projections) is held transposed, in × out;
- a dynamic batch dimension `N`; a `value_info` with the shape of every intermediate tensor;
- each node's source location in its `doc_string` and `metadata_props` (`incept.source`); the
  `metadata` in the model's `metadata_props` as valid UTF-8 (from `Model.to_onnx`: the model's
  name, the source file's name and sha256, the compiler version and the options);
- byte-identical output for the same input (fixed producer, no timestamps, ordered fields);
- with `functions=True`, each outermost block instance (`inception_3a`) becomes a call of an ONNX
  local function named after its block (`inception`); instances with the same lowered body share
  one function; weights are the function's inputs, so the model still checks and runs anywhere;
- anything the backend cannot express (an opset too old for an op, a checkpoint without a layer's
  weights) is an `InceptExportError` located at the program line, never an exception from onnx
  (the checkpoint is checked against the -O0 graph by `driver.lower`; weights that do not fit the
  graph given here are a `CompilerBug`).

Inference semantics: dropout is the identity (no node), batch norm uses its running statistics.

This module plans the graph (tensor names, Split partitions, block functions) and assembles the
model; `context` holds the lowering context, `lowering` the per-op lowerings.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from incept_dsl import __version__
from incept_dsl.backends.fresh_names import first_free
from incept_dsl.backends.onnx.context import DEFAULT_OPSET, FLOAT, Ctx
from incept_dsl.backends.onnx.file import add_initializers, write_model
from incept_dsl.backends.onnx.functions import FUNCTION_DOMAIN
from incept_dsl.backends.onnx.lowering import LOWER
from incept_dsl.backends.pytext import utf8_text
from incept_dsl.errors import UsageError
from incept_dsl.ir.graph import Graph

__all__ = [
    "DEFAULT_OPSET",
    "LOWER",
    "MIN_IR_VERSION",
    "MIN_OPSET",
    "PRODUCER",
    "check_opset",
    "export",
]

#: The oldest opset this backend writes (Clip, Pad and Slice take their bounds as inputs).
MIN_OPSET = 11
#: IR version floor: node `metadata_props` need IR 10.
MIN_IR_VERSION = 10
PRODUCER = "incept-dsl"


# ---- graph-level planning ------------------------------------------------------------------------
def _tensor_names(
    graph: Graph, order: list[int], weights: Mapping[str, Any]
) -> tuple[dict[int, str], set[str]]:
    """Every node's output tensor name: an input's name, the head's name for a head node (its
    first head), else the scope; weight keys are reserved so no tensor takes one."""
    used: set[str] = set(weights)
    names: dict[int, str] = {}
    for n in graph.input_nodes():
        names[n] = graph.attrs(n)["name"]
        used.add(names[n])
    for h in graph.heads:
        used.add(h.name)
        if h.node not in names:
            names[h.node] = h.name
    for n in order:
        if n not in names:
            name = first_free(graph.scope(n), used)
            used.add(name)
            names[n] = name
    return names, used


def _split_partitions(
    graph: Graph, order: list[int], units: dict[int, Any]
) -> dict[int, list[int]]:
    """Slices that cut one tensor's channels into consecutive pieces covering all of them, in
    one block instance or none: {first slice: [its slices by start], other slices: []}."""
    out: dict[int, list[int]] = {}
    index = {n: i for i, n in enumerate(order)}
    for n in order:
        slices = [u for u, _ in graph.users(n) if graph.op(u) == "slice"]
        owners = {units[s] if isinstance(units[s], str) else None for s in slices}
        if len(slices) < 2 or len(owners) != 1:
            continue
        slices.sort(key=lambda s: graph.attrs(s)["start"])
        bounds = [(graph.attrs(s)["start"], graph.attrs(s)["end"]) for s in slices]
        if bounds[0][0] != 0 or bounds[-1][1] != graph.shape(n)[0]:
            continue
        if any(a[1] != b[0] for a, b in zip(bounds, bounds[1:], strict=False)):
            continue
        first = min(slices, key=index.__getitem__)
        out[first] = slices
        out.update({s: [] for s in slices if s != first})
    return out


# ---- entry points --------------------------------------------------------------------------------
def check_opset(opset: int | None) -> int:
    """`opset`, or the default when None; `UsageError` outside what this onnx supports."""
    import onnx

    opset = DEFAULT_OPSET if opset is None else opset
    newest = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise UsageError(f"the ONNX opset must be between {MIN_OPSET} and {newest}; got {opset!r}")
    return opset


def _lower(
    graph: Graph, weights: Mapping[str, np.ndarray], opset: int, functions: bool
) -> tuple[Ctx, list[Any], list[Any]]:
    """Lower every node (through `LOWER`) into the main node list; with `functions`, each block
    instance into a call of a local function. Returns (context, main nodes, function protos)."""
    from incept_dsl.backends.onnx.functions import FunctionTable, Unit, block_units, unit_order

    order = graph.order()
    units: dict[int, Unit] = block_units(graph, order) if functions else {n: n for n in order}
    names, used = _tensor_names(graph, order, weights)
    ctx = Ctx(graph, weights, opset, names, used, _split_partitions(graph, order, units))
    table = FunctionTable(opset)
    blocks = graph.data.get("blocks") or {}
    members: dict[Any, list[int]] = {}
    for n in order:
        members.setdefault(units[n], []).append(n)
    heads = {h.node for h in graph.heads}
    main: list[Any] = []
    for unit in unit_order(graph, units, order):
        body: list[Any] = []
        ctx.sink = body
        for n in members[unit]:
            ctx.begin(n)
            LOWER[graph.op(n)](ctx, [ctx.names[i] for i in graph.inputs(n)])
        if not isinstance(unit, str) or not body:
            main.extend(body)
            continue
        inside = set(members[unit])
        produced = {t for nd in body for t in nd.output}
        outs: list[str] = []
        for n in members[unit]:
            t = ctx.names[n]
            if (
                t in produced
                and t not in outs
                and (n in heads or any(u not in inside for u, _ in graph.users(n)))
            ):
                outs.append(t)
        main.append(table.call(unit, blocks[unit], body, set(ctx.inits), outs))
    # a head whose tensor carries another name (an identity, an input, a second head of one
    # node) gets an Identity node
    ctx.sink = main
    for h in graph.heads:
        if ctx.names[h.node] != h.name:
            ctx.begin(h.node)
            ctx.emit("Identity", [ctx.names[h.node]], [h.name], suffix=f"output_{h.name}")
    return ctx, main, table.protos


def _assemble(
    graph: Graph,
    ctx: Ctx,
    main: list[Any],
    functions: list[Any],
    opset: int,
    meta: dict[str, str],
) -> Any:
    """The ModelProto without its initializers (`onnx_file` adds or writes them)."""
    import onnx
    from onnx import helper

    proto = onnx.ModelProto()
    opsets = [helper.make_opsetid("", opset)]
    if functions:
        opsets.append(helper.make_opsetid(FUNCTION_DOMAIN, 1))
    proto.ir_version = max(helper.find_min_ir_version_for(opsets[:1]), MIN_IR_VERSION)
    proto.opset_import.extend(opsets)
    proto.producer_name = PRODUCER
    proto.producer_version = __version__
    proto.doc_string = (
        f"{graph.name} from {meta['incept.source']}, compiled by incept-dsl "
        f"{__version__} at -O{meta['incept.opt_level']}"
    )
    g = proto.graph
    g.name = graph.name
    g.node.extend(main)
    g.input.extend(ctx.inputs)
    outputs = {h.name: graph.shape(h.node) for h in graph.heads}
    g.output.extend(
        helper.make_tensor_value_info(name, FLOAT, ["N", *shape]) for name, shape in outputs.items()
    )
    inputs = {vi.name for vi in ctx.inputs}
    g.value_info.extend(
        helper.make_tensor_value_info(t, FLOAT, ["N", *ctx.shapes[t]])
        for nd in main
        for t in nd.output
        if t not in outputs and t not in inputs and t in ctx.shapes
    )
    proto.functions.extend(functions)
    helper.set_model_props(proto, meta)
    return proto


def export(
    graph: Graph,
    weights: Mapping[str, np.ndarray],
    opset: int,
    metadata: Mapping[str, str],
    *,
    functions: bool = False,
    path: str | Path | None = None,
    inputs: tuple[Path, ...] = (),
    check: bool = False,
) -> Any:
    """The `onnx.ModelProto` of `graph` (lowered by `incept_dsl.driver.lower`) with `weights`
    (its state_dict as numpy arrays, keyed like its own module); written to `path` when given
    (atomically; never over one of `inputs`, the program's source files).

    `metadata` goes to the model's `metadata_props` (as valid UTF-8); `functions` makes each
    block instance a local function; `check` runs `onnx.checker.check_model` on the result.
    """
    ctx, main, protos = _lower(graph, weights, opset, functions)
    meta = {k: utf8_text(v) for k, v in metadata.items()}
    proto = _assemble(graph, ctx, main, protos, opset, meta)
    if path is not None:
        write_model(proto, ctx.inits, path, inputs, fill=True)
    else:
        add_initializers(proto, ctx.inits)
    if check:
        import onnx

        onnx.checker.check_model(str(path) if path is not None else proto)
    return proto
