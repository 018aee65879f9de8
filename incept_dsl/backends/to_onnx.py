"""ONNX backend: the IR -> an `onnx.ModelProto` built with `onnx.helper` (no tracing).

`to_onnx(model, path, opt_level, state_dict, opset)` guarantees:

- the graph of `-O<opt_level>` (aux heads pruned unless `keep_aux`), lowered node by node in the
  IR's stable topological order through one table, `_LOWER` (an entry per op of `ir.ops.OPS`);
- weights: the given `-O0` state_dict (torch tensors or numpy arrays, keyed like the -O0 torch
  module's state_dict), carried through the optimiser's weight-changing passes; or, without one,
  a fresh initialisation in numpy (`init_numpy`, no torch import), seeded, so repeatable;
- names from the source: each node is named after its IR scope (`inception_3a.branch_2.conv_1`),
  each weight initializer after its state_dict key (`inception_3a.branch_2.conv_1.weight`), each
  intermediate tensor after the scope that makes it, the graph's inputs and outputs after the
  program's `input` and `output` names;
- a dynamic batch dimension `N`; a `value_info` with the shape of every intermediate tensor;
- each node's source location in its `doc_string` and `metadata_props` (`incept.source`); the
  model's name, the source file's name and sha256, the compiler version and the options in the
  model's `metadata_props`;
- byte-identical output for the same input (fixed producer, no timestamps, ordered fields);
- with `functions=True`, each outermost block instance (`inception_3a`) becomes a call of an ONNX
  local function named after its block (`inception`); instances with the same lowered body share
  one function; weights are the function's inputs, so the model still checks and runs anywhere;
- anything the backend cannot express (an opset too old for an op, a checkpoint without a layer's
  weights) is an `InceptExportError` located at the program line, never an exception from onnx.

Inference semantics: dropout is the identity (no node), batch norm uses its running statistics.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from incept_dsl import __version__
from incept_dsl.backends.onnx_file import add_initializers, write_model
from incept_dsl.backends.onnx_functions import FUNCTION_DOMAIN
from incept_dsl.backends.pytext import utf8_text
from incept_dsl.backends.torch_init import DEFAULT_INIT
from incept_dsl.errors import InceptError, UsageError
from incept_dsl.ir.graph import Graph

#: The opset used unless asked otherwise.
DEFAULT_OPSET = 18
#: The oldest opset this backend writes (Clip, Pad and Slice take their bounds as inputs).
MIN_OPSET = 11
#: IR version floor: node `metadata_props` need IR 10.
MIN_IR_VERSION = 10
PRODUCER = "incept-dsl"

_FLOAT = 1  # onnx.TensorProto.FLOAT, without importing onnx at module import


class InceptExportError(InceptError):
    """The program (or its weights) cannot be exported as asked; located at the program line."""


# ---- the lowering context ------------------------------------------------------------------------
class _Ctx:
    """What a lowering sees: the node being lowered, its input tensor names, and emit helpers."""

    def __init__(
        self,
        graph: Graph,
        weights: Mapping[str, np.ndarray],
        opset: int,
        names: dict[int, str],
        used: set[str],
        split_of: dict[int, list[int]],
    ) -> None:
        from onnx import helper

        self.helper = helper
        self.g = graph
        self.weights = weights
        self.opset = opset
        self.names = names  # IR node -> its output tensor (aliases rewrite entries)
        self.used = used
        self.split_of = split_of  # first slice of a partition -> all its slices, by start
        self.sink: list[Any] = []  # the node list being filled (main graph or a function body)
        self.inputs: list[Any] = []
        self.inits: dict[str, np.ndarray] = {}  # initializer name -> value, in creation order
        self.shapes: dict[str, tuple[int, ...]] = {}  # tensor -> shape without the batch dim
        self.n = -1

    # -- the current node
    def begin(self, n: int) -> None:
        self.n = n
        self.scope = self.g.scope(n)
        self.a = self.g.attrs(n)
        self.shape = self.g.shape(n)
        self.out = self.names[n]
        span = self.g.span(n)
        self.loc = f"{utf8_text(Path(span.file).name)}:{span.line}:{span.column}" if span else ""

    def fresh(self, base: str) -> str:
        """A tensor name not used yet, `base` itself when free."""
        name, k = base, 1
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name

    def tmp(self, suffix: str) -> str:
        """A fresh name for an intermediate tensor of the current node."""
        return self.fresh(f"{self.scope}/{suffix}")

    def emit(
        self,
        op_type: str,
        inputs: list[str],
        outputs: list[str] | None = None,
        shapes: list[tuple[int, ...]] | None = None,
        suffix: str | None = None,
        node_name: str | None = None,
        **attrs: Any,
    ) -> None:
        """Append an ONNX node for the current IR node (named after its scope, `/suffix` for
        the helpers of a decomposition, or `node_name`) and record its outputs' shapes."""
        outputs = [self.out] if outputs is None else outputs
        shapes = [self.shape] * len(outputs) if shapes is None else shapes
        name = node_name or (self.scope if suffix is None else f"{self.scope}/{suffix}")
        node = self.helper.make_node(
            op_type,
            inputs,
            outputs,
            name=name,
            doc_string=f"source: {self.loc}" if self.loc else None,
            **attrs,
        )
        props = {"incept.op": self.g.op(self.n)}
        if self.loc:
            props["incept.source"] = self.loc
        self.helper.set_metadata_props(node, props)
        self.sink.append(node)
        for t, s in zip(outputs, shapes, strict=True):
            self.shapes[t] = tuple(s)

    def alias(self, src: str) -> None:
        """The current node is the identity: later nodes read `src` (a head gets its Identity
        node at the end, like every head whose tensor carries another name)."""
        self.names[self.n] = src

    # -- initializers
    def weight(self, role: str) -> str:
        """The initializer `<scope>.<role>` from the weights, checked against the IR's shapes."""
        key = f"{self.scope}.{role}"
        if key in self.inits:
            return key
        if key not in self.weights:
            raise InceptExportError(
                f"the weights have no tensor '{key}' for this {self.g.op(self.n)}",
                self.g.span(self.n),
                hint="pass the state_dict of this program's -O0 module (Model.to_torch())",
            )
        arr = np.ascontiguousarray(self.weights[key], dtype=np.float32)
        want = _param_shape(self.g.op(self.n), self.a, role)
        if tuple(arr.shape) != want:
            raise InceptExportError(
                f"the weight '{key}' has shape {tuple(arr.shape)}; this "
                f"{self.g.op(self.n)} needs {want}",
                self.g.span(self.n),
                hint="the state_dict must come from a module compiled from this same program",
            )
        self.inits[key] = arr
        return key

    def const(self, suffix: str, value: Any, dtype: Any = np.float32) -> str:
        """A small constant initializer named `<scope>.<suffix>`."""
        name = self.fresh(f"{self.scope}.{suffix}")
        self.inits[name] = np.asarray(value, dtype=dtype)
        return name

    def need(self, opset: int, what: str) -> None:
        """Refuse, at this node's source line, when the target opset is older than `opset`."""
        if self.opset < opset:
            raise InceptExportError(
                f"ONNX opset {self.opset} cannot express {what}; it needs opset {opset} or newer",
                self.g.span(self.n),
                hint=f"export with --opset {max(opset, DEFAULT_OPSET)}",
            )


def _param_shape(op: str, a: dict[str, Any], role: str) -> tuple[int, ...]:
    if op == "conv":
        if role == "weight":
            return (a["out_channels"], a["in_channels"] // a["groups"], *a["kernel"])
        return (a["out_channels"],)
    if op == "linear":
        return (a["out_features"], a["in_features"]) if role == "weight" else (a["out_features"],)
    return (a["num_features"],)


def _pads(padding: tuple[int, int]) -> list[int]:
    return [padding[0], padding[1], padding[0], padding[1]]


# ---- lowerings: one per IR op --------------------------------------------------------------------
Lowering = Callable[[_Ctx, list[str]], None]


def _input(c: _Ctx, ins: list[str]) -> None:
    c.inputs.append(c.helper.make_tensor_value_info(c.out, _FLOAT, ["N", *c.shape]))


def _conv(c: _Ctx, ins: list[str]) -> None:
    a = c.a
    args = [ins[0], c.weight("weight")] + ([c.weight("bias")] if a["bias"] else [])
    c.emit(
        "Conv",
        args,
        kernel_shape=list(a["kernel"]),
        strides=list(a["stride"]),
        pads=_pads(a["padding"]),
        dilations=list(a["dilation"]),
        group=a["groups"],
    )


def _batchnorm(c: _Ctx, ins: list[str]) -> None:
    args = [ins[0], *(c.weight(r) for r in ("weight", "bias", "running_mean", "running_var"))]
    c.emit(
        "BatchNormalization", args, epsilon=float(c.a["eps"]), momentum=1.0 - float(c.a["momentum"])
    )


def _linear(c: _Ctx, ins: list[str]) -> None:
    args = [ins[0], c.weight("weight")] + ([c.weight("bias")] if c.a["bias"] else [])
    c.emit("Gemm", args, transB=1)


def _ceil_extra(c: _Ctx) -> tuple[int, int]:
    """Extra end padding per axis that makes floor-mode pooling give the IR's (PyTorch's)
    ceil-mode output size. ONNX's `ceil_mode` differs from PyTorch's where PyTorch drops a last
    window that would start in the right padding, so ceil mode is always spelled this way."""
    if not c.a["ceil"]:
        return 0, 0
    x = c.g.shape(c.g.inputs(c.n)[0])
    return tuple(
        max(0, (out - 1) * s + k - size - 2 * p)  # type: ignore[return-value]
        for out, s, k, size, p in zip(
            c.shape[1:], c.a["stride"], c.a["kernel"], x[1:], c.a["padding"], strict=True
        )
    )


def _maxpool(c: _Ctx, ins: list[str]) -> None:
    a = c.a
    (ph, pw), (eh, ew) = a["padding"], _ceil_extra(c)
    c.emit(
        "MaxPool",
        [ins[0]],
        kernel_shape=list(a["kernel"]),
        strides=list(a["stride"]),
        pads=[ph, pw, ph + eh, pw + ew],
    )


def _avgpool(c: _Ctx, ins: list[str]) -> None:
    a = c.a
    (ph, pw), (eh, ew) = a["padding"], _ceil_extra(c)
    x, include = ins[0], a["count_include_pad"]
    if include and (eh or ew) and (ph or pw):
        # PyTorch divides by the window's part inside input + declared padding (not the ceil
        # overhang): make the declared padding real zeros and count only real elements
        ch, h, w = c.g.shape(c.g.inputs(c.n)[0])
        x = c.tmp("pad")
        c.emit(
            "Pad",
            [ins[0], c.const("pads", [0, 0, ph, pw, 0, 0, ph, pw], np.int64)],
            [x],
            [(ch, h + 2 * ph, w + 2 * pw)],
            suffix="pad",
        )
        ph = pw = 0
    if eh or ew:
        include = False  # the overhang never counts
    c.emit(
        "AveragePool",
        [x],
        kernel_shape=list(a["kernel"]),
        strides=list(a["stride"]),
        pads=[ph, pw, ph + eh, pw + ew],
        count_include_pad=int(include),
    )


def _global_avgpool(c: _Ctx, ins: list[str]) -> None:
    c.emit("GlobalAveragePool", [ins[0]])


def _adaptive_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_in, n_out): column j averages PyTorch's adaptive window j, [floor(j*n/m), ceil((j+1)*n/m))."""
    m = np.zeros((n_in, n_out), dtype=np.float32)
    for j in range(n_out):
        lo, hi = (j * n_in) // n_out, -(-((j + 1) * n_in) // n_out)
        m[lo:hi, j] = 1.0 / (hi - lo)
    return m


def _adaptive_avgpool(c: _Ctx, ins: list[str]) -> None:
    ch, h, w = c.g.shape(c.g.inputs(c.n)[0])
    oh, ow = c.a["size"]
    if (oh, ow) == (1, 1):
        c.emit("GlobalAveragePool", [ins[0]])
    elif h % oh == 0 and w % ow == 0:  # equal windows: an ordinary average pool
        k = [h // oh, w // ow]
        c.emit("AveragePool", [ins[0]], kernel_shape=k, strides=k)
    else:  # uneven windows: x @ Pw (W -> ow), then Ph @ . (H -> oh); exact and linear
        cols = c.tmp("cols")
        c.emit(
            "MatMul",
            [ins[0], c.const("pool_w", _adaptive_matrix(w, ow))],
            [cols],
            [(ch, h, ow)],
            suffix="cols",
        )
        c.emit("MatMul", [c.const("pool_h", _adaptive_matrix(h, oh).T), cols])


def _lrn_window(channels: int, size: int, scale: float) -> np.ndarray:
    """(C, C, 1, 1): row i sums channels [i - size//2, i + (size-1)//2] (PyTorch's window, for odd
    and even sizes), times `scale`."""
    i = np.arange(channels)
    d = i[None, :] - i[:, None]  # input channel j minus output channel i
    band = (d >= -(size // 2)) & (d <= (size - 1) // 2)
    return (band * np.float32(scale)).astype(np.float32).reshape(channels, channels, 1, 1)


def _lrn(c: _Ctx, ins: list[str]) -> None:
    """x / (k + alpha/size * sum of x^2 over the channel window)^beta, the window sum as a 1x1
    Conv with a band matrix (k its bias). onnxruntime runs that several times faster than its
    LRN kernel, and the window is PyTorch's for even sizes too (ONNX's LRN pads the other way)."""
    a = c.a
    ch = c.shape[0]
    x = ins[0]
    t = {s: c.tmp(s) for s in ("sq", "den", "root", "root4", "pow")}
    c.emit("Mul", [x, x], [t["sq"]], suffix="sq")
    window = c.const("window", _lrn_window(ch, a["size"], a["alpha"] / a["size"]))
    c.emit(
        "Conv",
        [t["sq"], window, c.const("k", np.full(ch, a["k"]))],
        [t["den"]],
        suffix="den",
        kernel_shape=[1, 1],
    )
    beta = float(a["beta"])
    if beta == 0.75:  # den^0.75 = sqrt(den) * sqrt(sqrt(den)): much cheaper than Pow
        c.emit("Sqrt", [t["den"]], [t["root"]], suffix="root")
        c.emit("Sqrt", [t["root"]], [t["root4"]], suffix="root4")
        c.emit("Mul", [t["root"], t["root4"]], [t["pow"]], suffix="pow")
    elif beta == 0.5:
        c.emit("Sqrt", [t["den"]], [t["pow"]], suffix="pow")
    else:
        c.emit("Pow", [t["den"], c.const("beta", beta)], [t["pow"]], suffix="pow")
    c.emit("Div", [x, t["pow"]])


def _unary(op_type: str) -> Lowering:
    def lower(c: _Ctx, ins: list[str]) -> None:
        c.emit(op_type, [ins[0]])

    return lower


def _relu6(c: _Ctx, ins: list[str]) -> None:
    c.emit("Clip", [ins[0], c.const("min", 0.0), c.const("max", 6.0)])


def _gelu(c: _Ctx, ins: list[str]) -> None:
    if c.opset >= 20:
        c.emit("Gelu", [ins[0]])
        return
    x = ins[0]  # 0.5 * x * (1 + erf(x / sqrt 2)), PyTorch's exact GELU
    t = {s: c.tmp(s) for s in ("div", "erf", "add", "mul")}
    c.emit("Div", [x, c.const("sqrt2", math.sqrt(2.0))], [t["div"]], suffix="div")
    c.emit("Erf", [t["div"]], [t["erf"]], suffix="erf")
    c.emit("Add", [t["erf"], c.const("one", 1.0)], [t["add"]], suffix="add")
    c.emit("Mul", [x, t["add"]], [t["mul"]], suffix="mul")
    c.emit("Mul", [t["mul"], c.const("half", 0.5)])


def _silu(c: _Ctx, ins: list[str]) -> None:
    sig = c.tmp("sigmoid")
    c.emit("Sigmoid", [ins[0]], [sig], suffix="sigmoid")
    c.emit("Mul", [ins[0], sig])


def _softmax(c: _Ctx, ins: list[str]) -> None:
    dim = c.a["dim"]
    if dim != len(c.shape):  # before opset 13 Softmax flattened everything after `axis`
        c.need(13, f"softmax over dimension {dim} of a {len(c.shape) + 1}-D tensor")
    c.emit("Softmax", [ins[0]], axis=dim)


def _identity(c: _Ctx, ins: list[str]) -> None:
    c.alias(ins[0])


def _flatten(c: _Ctx, ins: list[str]) -> None:
    if len(c.g.shape(c.g.inputs(c.n)[0])) == 1:
        c.alias(ins[0])  # already N×F
    else:
        c.emit("Flatten", [ins[0]], axis=1)


def _scale(c: _Ctx, ins: list[str]) -> None:
    c.emit("Mul", [ins[0], c.const("s", c.a["s"])])


def _concat(c: _Ctx, ins: list[str]) -> None:
    if len(ins) == 1:
        c.alias(ins[0])
    else:
        c.emit("Concat", ins, axis=1)


def _add(c: _Ctx, ins: list[str]) -> None:
    if len(ins) == 1:
        c.alias(ins[0])
    else:
        c.emit("Add" if len(ins) == 2 else "Sum", ins)


def _slice(c: _Ctx, ins: list[str]) -> None:
    group = c.split_of.get(c.n)
    if group is None:  # a lone slice
        a = c.a
        c.emit(
            "Slice",
            [
                ins[0],
                c.const("starts", [a["start"]], np.int64),
                c.const("ends", [a["end"]], np.int64),
                c.const("axes", [1], np.int64),
            ],
        )
        return
    if not group:  # a later slice of a partition: the Split of the first one made it
        return
    # slices that cut one tensor's channels into consecutive pieces: one Split
    sizes = [c.g.attrs(s)["end"] - c.g.attrs(s)["start"] for s in group]
    outs = [c.names[s] for s in group]
    shapes = [c.g.shape(s) for s in group]
    name = f"{c.g.scope(c.g.inputs(c.n)[0])}.split"  # after the tensor it cuts
    if c.opset >= 13:
        c.emit(
            "Split",
            [ins[0], c.const("split", sizes, np.int64)],
            outs,
            shapes,
            node_name=name,
            axis=1,
        )
    else:
        c.emit("Split", [ins[0]], outs, shapes, node_name=name, axis=1, split=sizes)


_LOWER: dict[str, Lowering] = {
    "input": _input,
    "conv": _conv,
    "batchnorm": _batchnorm,
    "linear": _linear,
    "maxpool": _maxpool,
    "avgpool": _avgpool,
    "global_avgpool": _global_avgpool,
    "adaptive_avgpool": _adaptive_avgpool,
    "lrn": _lrn,
    "relu": _unary("Relu"),
    "relu6": _relu6,
    "gelu": _gelu,
    "silu": _silu,
    "sigmoid": _unary("Sigmoid"),
    "tanh": _unary("Tanh"),
    "softmax": _softmax,
    "dropout": _identity,  # inference: the identity
    "flatten": _flatten,
    "scale": _scale,
    "concat": _concat,
    "add": _add,
    "slice": _slice,
}


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
            base, name, k = graph.scope(n), graph.scope(n), 1
            while name in used:
                k += 1
                name = f"{base}_{k}"
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
def _numpy_state(state_dict: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """numpy views of a state_dict's tensors (torch tensors or arrays; bfloat16 as float32); a
    sparse, quantized or non-tensor entry is a `UsageError` naming its key (`state_arrays`)."""
    from incept_dsl.backends.state_arrays import numpy_state

    return numpy_state(state_dict)


def _check_state(model: Any, state: Mapping[str, np.ndarray]) -> None:
    """The weights fit the -O0 module: every tensor present with its shape (else an error at the
    layer's source line), and no key the module lacks (a `UsageError`, as strict loading)."""
    from incept_dsl.backends.init_numpy import state_shapes

    g = model.graph
    expected = set()
    for key, n, _, shape in state_shapes(g):
        expected.add(key)
        what = f"this {g.op(n)}"
        if key not in state:
            raise InceptExportError(
                f"the weights have no tensor '{key}' for {what}",
                g.span(n),
                hint="pass the state_dict of this program's -O0 module (Model.to_torch())",
            )
        if tuple(np.shape(state[key])) != shape:
            raise InceptExportError(
                f"the weight '{key}' has shape {tuple(np.shape(state[key]))}; {what} needs {shape}",
                g.span(n),
                hint="the state_dict must come from a module compiled from this same program",
            )
    unknown = sorted(set(state) - expected)
    if unknown:
        raise UsageError(
            f"the weights have tensors {model.name} does not: "
            f"{', '.join(unknown[:3])}{' ...' if len(unknown) > 3 else ''}"
        )


def prepared_graph(
    model: Any, opt_level: int, state: dict[str, np.ndarray] | None, keep_aux: bool
) -> tuple[Graph, dict[str, np.ndarray] | None]:
    """The -O<opt_level> graph and the weights carried to it (the optimiser's contract).

    -O0 needs no optimiser: a copy with the aux heads pruned unless `keep_aux`. -O1/-O2 go through
    `optimize_weights.optimize`; where that module is absent, through the structural pipeline only
    (the weights pass unchanged, which is exact while no pass changes weights).
    """
    if opt_level == 0:
        g = model.graph.copy()
        if not keep_aux:
            g.eliminate_dead_code(keep_kinds=("output",))
        return g, state
    try:
        from incept_dsl.backends.optimize_weights import optimize
    except ImportError:
        return model.optimized(opt_level, keep_aux=keep_aux), state
    from incept_dsl.weights import WeightMismatch

    try:
        return optimize(model, opt_level, state, keep_aux=keep_aux)
    except WeightMismatch as err:
        raise UsageError(f"the weights do not fit {model.name}: {err}") from None


def _check_opset(opset: int | None) -> int:
    import onnx

    opset = DEFAULT_OPSET if opset is None else opset
    newest = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise UsageError(f"the ONNX opset must be between {MIN_OPSET} and {newest}; got {opset!r}")
    return opset


def _fresh_state(model: Any, init: str | None, seed: int, keep_aux: bool) -> dict[str, np.ndarray]:
    """Fresh -O0 weights (the optimiser takes whole -O0 state_dicts). Layers the export prunes
    (aux heads unless `keep_aux`) get zeros, which cost nothing; per-layer seeds make the other
    layers' weights the same either way."""
    from incept_dsl.backends.init_numpy import init_state, state_shapes

    live = model.graph.copy()
    if not keep_aux:
        live.eliminate_dead_code(keep_kinds=("output",))
    try:
        state = init_state(live, init or DEFAULT_INIT, seed)
    except ValueError as err:
        raise UsageError(str(err)) from None
    for key, _, role, shape in state_shapes(model.graph):
        if key not in state:
            state[key] = np.zeros(shape, np.int64 if role == "num_batches_tracked" else np.float32)
    return state


def _lower(
    graph: Graph, weights: Mapping[str, np.ndarray], opset: int, functions: bool
) -> tuple[_Ctx, list[Any], list[Any]]:
    """Lower every node (through `_LOWER`) into the main node list; with `functions`, each block
    instance into a call of a local function. Returns (context, main nodes, function protos)."""
    from incept_dsl.backends.onnx_functions import FunctionTable, Unit, block_units, unit_order

    order = graph.order()
    units: dict[int, Unit] = block_units(graph, order) if functions else {n: n for n in order}
    names, used = _tensor_names(graph, order, weights)
    ctx = _Ctx(graph, weights, opset, names, used, _split_partitions(graph, order, units))
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
            _LOWER[graph.op(n)](ctx, [ctx.names[i] for i in graph.inputs(n)])
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
    model: Any,
    graph: Graph,
    ctx: _Ctx,
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
        helper.make_tensor_value_info(name, _FLOAT, ["N", *shape])
        for name, shape in outputs.items()
    )
    inputs = {vi.name for vi in ctx.inputs}
    g.value_info.extend(
        helper.make_tensor_value_info(t, _FLOAT, ["N", *ctx.shapes[t]])
        for nd in main
        for t in nd.output
        if t not in outputs and t not in inputs and t in ctx.shapes
    )
    proto.functions.extend(functions)
    helper.set_model_props(proto, meta)
    return proto


def to_onnx(
    model: Any,
    path: str | Path | None = None,
    opt_level: int = 1,
    state_dict: Mapping[str, Any] | None = None,
    opset: int | None = None,
    *,
    keep_aux: bool = False,
    functions: bool = False,
    init: str | None = None,
    seed: int = 0,
    check: bool = False,
) -> Any:
    """The `onnx.ModelProto` of `model` at `-O<opt_level>` (see the module doc); writes it to
    `path` when given.

    `state_dict`: weights of the -O0 module (torch tensors or numpy arrays); without it a fresh
    numpy initialisation (`init`: a scheme of `to_torch.INIT_SCHEMES`, default fan_in; `seed`).
    `keep_aux` keeps the aux heads as extra outputs; `functions` makes each block instance a
    local function; `check` runs `onnx.checker.check_model` on the result.
    """
    opset = _check_opset(opset)
    if opt_level not in (0, 1, 2):
        raise UsageError(f"opt_level must be 0, 1 or 2; got {opt_level!r}")
    inputs: tuple[Path, ...] = tuple(getattr(model, "source_files", ()) or ())
    if path is not None:  # before the work: never over an input, a folder or a non-.onnx name
        from incept_dsl.outputs import check_output

        check_output(Path(path), (".onnx",), inputs, "to_onnx")
    if state_dict is not None:
        state = _numpy_state(state_dict)
        _check_state(model, state)
        origin = "state_dict"
    else:
        state = _fresh_state(model, init, seed, keep_aux)
        origin = f"fresh {init or DEFAULT_INIT} initialisation, seed {seed}"
    graph, weights = prepared_graph(model, opt_level, state, keep_aux)
    ctx, main, protos = _lower(graph, weights or {}, opset, functions)
    source = Path(model.source_path).name if model.source_path else str(graph.data.get("source"))
    proto = _assemble(
        model,
        graph,
        ctx,
        main,
        protos,
        opset,
        {
            "incept.model": graph.name,
            "incept.source": utf8_text(source),
            "incept.source_sha256": model.source_sha256 or "",
            "incept.compiler_version": __version__,
            "incept.opt_level": str(opt_level),
            "incept.params": json.dumps(model.params, sort_keys=True, default=str),
            "incept.weights": origin,
        },
    )
    if path is not None:
        write_model(proto, ctx.inits, path, inputs)
    add_initializers(proto, ctx.inits)
    if check:
        import onnx

        onnx.checker.check_model(str(path) if path is not None else proto)
    return proto


#: What a weights file may hold beyond 8 bytes per element of the model's state: pickles, headers.
WEIGHTS_SLACK_BYTES = 8 << 20
#: The first bytes of a (pre-zip) torch.save file: a pickle of protocol 2 or newer.
_PICKLE_MAGIC = b"\x80"


def load_weights(path: str | Path, model: Any = None) -> dict[str, Any]:
    """A state_dict from a file: `.npz` (numpy, no torch) or a torch checkpoint (a state_dict, or
    a dict holding one under `state_dict` / `model`). `UsageError` when it cannot be read.

    With `model`, nothing larger than the model's -O0 state can need is read (weights bombs: a
    small deflated archive that declares gigabytes): a zip archive's members' uncompressed sizes
    (or another file's size) must not pass 8 bytes per element of the state plus
    `WEIGHTS_SLACK_BYTES`, and an `.npz` entry for a tensor of the model must declare its shape.
    """
    import stat
    import zipfile

    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise UsageError(f"--weights: no such file {str(p)!r}") from None
    except (OSError, ValueError) as err:
        reason = getattr(err, "strerror", None) or "not a valid file name"
        raise UsageError(f"--weights: cannot read {str(p)!r}: {reason}") from None
    if not stat.S_ISREG(st.st_mode):
        from incept_dsl.reading import file_kind

        raise UsageError(
            f"--weights: {str(p)!r} is {file_kind(st.st_mode)}, not a weights file "
            "(a PyTorch checkpoint or an .npz archive)"
        )
    npz = p.suffix.lower() == ".npz"
    expected = _expected_shapes(model) if model is not None else None
    try:
        with p.open("rb") as f:
            head = f.read(4)
        is_zip = zipfile.is_zipfile(p)
        if is_zip:
            with zipfile.ZipFile(p) as zf:
                members = zf.infolist()
                if npz and expected is not None:
                    _check_npz_headers(p, zf, members, expected)
        if expected is not None:
            need = 8 * sum(math.prod(shape) for shape in expected.values())
            have = sum(m.file_size for m in members) if is_zip else st.st_size
            _check_weights_size(p, have, need, is_zip)
        if not is_zip and (npz or not head.startswith(_PICKLE_MAGIC)):
            raise UsageError(
                f"--weights: {str(p)!r} is "
                + ("empty" if not head else "not a PyTorch checkpoint or .npz archive")
                + (
                    " (an .npz file is a zip archive, as numpy.savez writes)"
                    if npz and head
                    else ""
                )
            )
        if npz:
            with np.load(p, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        obj = _torch_load(p)
    except UsageError:
        raise
    except Exception as err:  # noqa: BLE001 - any unreadable file is the user's to fix
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        what = "an .npz archive" if npz else "a PyTorch checkpoint"
        raise UsageError(f"--weights: cannot read {str(p)!r} as {what}: {reason}") from None
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise UsageError(f"--weights: {str(p)!r} holds no state_dict")
    return obj


def _expected_shapes(model: Any) -> dict[str, tuple[int, ...]]:
    """key -> shape of every tensor of the model's -O0 state_dict."""
    from incept_dsl.backends.init_numpy import state_shapes

    return {key: tuple(shape) for key, _, _, shape in state_shapes(model.graph)}


def _check_weights_size(p: Path, have: int, need: int, is_zip: bool) -> None:
    """Refuse a file that would make us allocate more than the model's state can need."""
    limit = need + WEIGHTS_SLACK_BYTES
    if have > limit:
        what = "its entries unpack to" if is_zip else "it holds"
        raise UsageError(
            f"--weights: {str(p)!r} is too large for this model: {what} {have:,} bytes; "
            f"the model's state_dict needs at most {need:,} bytes (limit {limit:,})"
        )


def _check_npz_headers(
    p: Path, zf: Any, members: list[Any], expected: Mapping[str, tuple[int, ...]]
) -> None:
    """Read the header of every `.npy` entry of an `.npz` archive (not its data): an entry for a
    tensor of the model must declare that tensor's shape, and no entry may declare more bytes
    than the model's whole state."""
    from numpy.lib import format as npy

    limit = 8 * sum(math.prod(s) for s in expected.values()) + WEIGHTS_SLACK_BYTES
    total = 0
    for info in members:
        key = info.filename.removesuffix(".npy")
        with zf.open(info) as f:
            version = npy.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = npy.read_array_header_1_0(f)
            else:  # 2.0 and 3.0 share the layout (3.0's header is UTF-8, ours ASCII)
                shape, _, dtype = npy.read_array_header_2_0(f)
        want = expected.get(key)
        if want is not None and tuple(shape) != want:
            raise UsageError(
                f"--weights: {str(p)!r} entry {key!r} has shape {tuple(shape)}; "
                f"the model needs {want}"
            )
        total += math.prod(shape) * dtype.itemsize
        if total > limit:
            raise UsageError(
                f"--weights: {str(p)!r} is too large for this model: its entries declare "
                f"more than {limit:,} bytes (the model's state_dict needs at most "
                f"{limit - WEIGHTS_SLACK_BYTES:,})"
            )


def _torch_load(p: Path) -> Any:
    """`torch.load` of plain tensors only (weights_only), its warnings kept quiet; a checkpoint
    holding other objects is a `UsageError` that does not suggest running its code."""
    import pickle
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return torch.load(p, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as err:
            if "weights only load failed" not in str(err).lower():
                raise
    raise UsageError(
        f"--weights: {str(p)!r} holds objects other than tensors; incept-dsl only loads plain "
        "state_dicts (save model.state_dict(), a dict of tensors)"
    )


def emit(model: Any, args: argparse.Namespace, out_path: Path) -> str:
    """`incept-dsl compile --to onnx`: write the checked model; a one-line description."""
    level = 1 if getattr(args, "opt_level", None) is None else args.opt_level
    weights = getattr(args, "weights", None)
    state = load_weights(weights, model) if weights else None
    proto = to_onnx(
        model,
        out_path,
        opt_level=level,
        state_dict=state,
        opset=getattr(args, "opset", None),
        keep_aux=getattr(args, "keep_aux", False),
        functions=getattr(args, "functions", False),
        init=getattr(args, "init", None),
        check=True,
    )
    params = sum(int(np.prod(t.dims)) for t in proto.graph.initializer)
    opset = proto.opset_import[0].version
    k = len(proto.functions)
    fn = f", {k} local function{'s' if k > 1 else ''}" if k else ""
    return f"ONNX opset {opset}, -O{level}, {len(proto.graph.node)} nodes{fn}, {params:,} weights"
