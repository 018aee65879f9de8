"""PyTorch backend: the IR -> the source of a standalone `nn.Module` that imports only torch.

`torch_source(graph)` guarantees a deterministic, readable Python module with one class per model
and, at -O0, one class per block definition (`structured`: its constructor takes the block's
parameters, a `repeat` of identical copies is an `nn.Sequential`, its `forward` mirrors the block's
source lines): one `nn.Conv2d` / `nn.BatchNorm2d` / `nn.Linear` per parametric node, registered at
the node's scope path (`inception_3a.branch_2.conv_1`, the same keys in the same order in either
form), forwards that run the nodes in the graph's stable topological order, aux heads computed only
in training mode, and a `loss` helper weighting the heads as the program declares. A graph that
-O2 gave kernel annotations keeps the flat form (one class running every node itself). `build_module(graph)` compiles that same source in-process (as
torch.fx does for its GraphModules), so the in-process module and the written file cannot drift.

The generated code contains only identifiers derived from validated `.incept` names and literals
produced by `repr` of ints, floats, bools and tuples: nothing of the program text is executed.

This module assembles the file and compiles it; `lowering` holds each op's constructor and forward
text (`LOWER`), `naming` the class and tensor identifiers (`class_name`, `class_names`,
`MODULE_GLOBALS`); those names are importable from here too.
"""

from __future__ import annotations

import hashlib
import linecache
import re
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from incept_dsl import __version__
from incept_dsl.backends.pytext import comment_text, docstring_text
from incept_dsl.backends.torch import kernels
from incept_dsl.backends.torch.frees import frame_frees
from incept_dsl.backends.torch.init_schemes import DEFAULT_INIT, INIT_SCHEMES
from incept_dsl.backends.torch.init_schemes import init_lines as _init_lines
from incept_dsl.backends.torch.loss import LOSS_METHOD
from incept_dsl.backends.torch.lowering import LOWER, attr_path, pyval
from incept_dsl.backends.torch.naming import MODULE_GLOBALS, TensorNames, class_name, class_names
from incept_dsl.backends.torch.structured import flat_only, structured
from incept_dsl.ir.graph import Graph, Head
from incept_dsl.ir.ops import WEIGHTED
from incept_dsl.text import fmt_shape

__all__ = [
    "DEFAULT_INIT",
    "INIT_SCHEMES",
    "LOWER",
    "MODULE_GLOBALS",
    "build_module",
    "class_name",
    "class_names",
    "class_source",
    "module_class",
    "torch_source",
]


#: The generated `loss` method (indented as a method of the class): the same for every model.
@dataclass
class _Plan:
    """How the generated module runs a graph: its nodes by role, in execution order, and the
    `forward` local that holds each node's tensor."""

    inputs: list[int]
    main: list[int]  # what the output heads need, in the graph's stable order
    aux: list[int]  # what only aux heads need, in the order they leave the main path
    rest: list[int]  # layers no head uses: registered (their weights load), never run
    var: dict[int, str]  # node -> its tensor's local name in `forward`


def _plan(graph: Graph, reserved: set[str]) -> _Plan:
    """The execution plan of `graph`; no local takes one of `reserved`."""
    import networkx as nx

    order = graph.order()
    eval_nodes: set[int] = set()
    train_nodes: set[int] = set()
    for h in graph.heads:
        anc = nx.ancestors(graph.nx, h.node) | {h.node}
        (eval_nodes if h.kind == "output" else train_nodes).update(anc)
    train_only = train_nodes - eval_nodes

    names = TensorNames(reserved)
    inputs = graph.input_nodes()
    var = {n: names.fresh(graph.attrs(n)["name"]) for n in inputs}
    main = [n for n in order if n in eval_nodes and graph.op(n) != "input"]
    aux = [n for n in order if n in train_only and graph.op(n) != "input"]
    # aux heads run in the order they leave the main path (as torchvision runs aux1 before aux2),
    # whatever order the program declares them in; sorting by (branch point, order) stays topological
    main_index = {n: i for i, n in enumerate(main)}
    branch: dict[int, int] = {}
    for n in aux:
        branch[n] = max((main_index.get(i, branch.get(i, -1)) for i in graph.inputs(n)), default=-1)
    aux.sort(key=lambda n: branch[n])  # stable: ties keep the graph's order
    for n in main + aux:
        var[n] = names.fresh(graph.scope(n))
    rest = [n for n in order if n not in eval_nodes and n not in train_only]
    return _Plan(inputs, main, aux, rest, var)


def reserved_names(name: str, taken: set[str] | frozenset[str] = frozenset()) -> set[str]:
    """The names no local of class `name`'s `forward` may take: `taken` and the class's own."""
    return set(taken) | {name, name + "Outputs", name + "EvalOutputs"}


def _outputs(graph: Graph) -> tuple[list[Head], bool]:
    """(the output heads, whether the graph has aux heads)."""
    outs = [h for h in graph.heads if h.kind == "output"]
    return outs, any(h.kind == "aux" for h in graph.heads)


def _containers(graph: Graph, nodes: list[int]) -> dict[str, int]:
    """Each container path above a parametric node of `nodes` -> its `nn.ModuleList` length
    (0: a plain `nn.Module`)."""
    containers: dict[str, int] = {}
    for n in nodes:
        if graph.op(n) not in WEIGHTED:
            continue
        parts = graph.scope(n).split(".")
        for i in range(1, len(parts)):
            path = ".".join(parts[:i])
            nxt = parts[i]
            if nxt.isdigit():
                containers[path] = max(containers.get(path, 0), int(nxt) + 1)
            else:
                containers.setdefault(path, 0)
    return containers


def _init_body(graph: Graph, registration: list[int]) -> list[str]:
    """`__init__`'s containers and parametric modules, registered in `registration` order (so
    the state_dict's order follows it), each module commented with its source line."""
    containers = _containers(graph, registration)
    lines: list[str] = []
    declared: set[str] = set()
    for n in registration:
        op = graph.op(n)
        if op not in WEIGHTED:
            continue
        parts = graph.scope(n).split(".")
        for i in range(1, len(parts)):
            path = ".".join(parts[:i])
            if path in declared or path.split(".")[-1].isdigit():
                continue
            declared.add(path)
            size = containers[path]
            ctor = f"nn.ModuleList([nn.Module() for _ in range({size})])" if size else "nn.Module()"
            lines.append(f"{attr_path(path)} = {ctor}")
        lowered, _ = LOWER[op](graph.attrs(n), graph.shape(n), ["x"], "")
        assert lowered is not None  # parametric ops construct a module
        ctor = kernels.module_ctor(graph, n, lowered)  # -O2 kernel choice, if any
        span = graph.span(n)
        where = f"  # {comment_text(span.file.split('/')[-1])}:{span.line}" if span else ""
        lines.append(f"{attr_path(graph.scope(n))} = {ctor}{where}")
    return lines


def _stmt(graph: Graph, var: dict[int, str], n: int) -> str:
    """The `forward` statement computing node `n`, commented with its shape."""
    op = graph.op(n)
    ins = [var[i] for i in graph.inputs(n)]
    _, expr = LOWER[op](graph.attrs(n), graph.shape(n), ins, attr_path(graph.scope(n)))
    expr = kernels.forward_expr(graph, n, ins, expr, var)  # -O2 kernel choice, if any
    return f"{var[n]} = {expr}  # {fmt_shape(graph.shape(n))}"


def _frees(graph: Graph, plan: _Plan) -> dict[int, list[str]]:
    """Index in the main sequence -> the locals to `del` after it: a tensor is freed after its
    last use there, unless a head or an aux node needs it (`frees.frame_frees`)."""
    dies = frame_frees([graph.inputs(n) for n in plan.main], flat_keep(graph, plan.aux))
    return {idx: [plan.var[t] for t in ts] for idx, ts in enumerate(dies) if ts}


def flat_keep(graph: Graph, aux: list[int]) -> set[int]:
    """The tensors the flat form's main path never frees: the heads and what `aux` reads."""
    return {h.node for h in graph.heads} | {i for n in aux for i in graph.inputs(n)}


def _tuple_expr(cls: str, heads: list[Head], var: dict[int, str]) -> str:
    """What `forward` returns for `heads`: the one tensor, or a `cls` named tuple of them."""
    if len(heads) == 1:
        return var[heads[0].node]
    return f"{cls}(" + ", ".join(f"{h.name}={var[h.node]}" for h in heads) + ")"


def _forward_body(graph: Graph, plan: _Plan, name: str) -> list[str]:
    """`forward`'s body: the main path (freeing tensors after their last use), then, in
    training mode only, the aux heads; returns class `name`'s outputs."""
    var = plan.var
    frees = _frees(graph, plan)
    fwd: list[str] = kernels.input_lines(graph, [(var[n], graph.shape(n)) for n in plan.inputs])
    for idx, n in enumerate(plan.main):
        fwd.append(_stmt(graph, var, n))
        if idx in frees:
            fwd.append("del " + ", ".join(sorted(frees[idx])))
    outs, has_aux = _outputs(graph)
    if has_aux:
        fwd.append("if self.training:")
        fwd.extend("    " + _stmt(graph, var, n) for n in plan.aux)
        fwd.append(f"    return {_tuple_expr(name + 'Outputs', graph.heads, var)}")
    eval_tuple = name + "EvalOutputs" if has_aux else name + "Outputs"
    fwd.append(f"return {_tuple_expr(eval_tuple, outs, var)}")
    return fwd


def _output_tuples(graph: Graph, name: str) -> list[str]:
    """The `NamedTuple` classes of class `name`'s outputs: `<name>Outputs` (every head) when
    there are several heads, `<name>EvalOutputs` (the outputs) when aux heads hide several."""
    heads = graph.heads
    outs, has_aux = _outputs(graph)
    tuples: list[tuple[str, list[Head]]] = []
    if len(heads) > 1:
        tuples.append((name + "Outputs", heads))
    if has_aux and len(outs) > 1:
        tuples.append((name + "EvalOutputs", outs))
    src: list[str] = []
    for tname, hs in tuples:
        src.append(f"class {tname}(NamedTuple):")
        for h in hs:
            src.append(f"    {h.name}: torch.Tensor")
        src += ["", ""]
    return src


def _class_header(graph: Graph, name: str, init: str, inputs: list[int]) -> list[str]:
    """The `class` line, the docstring (inputs, outputs, aux heads, initialisation) and the
    `HEADS` and `INPUT_SHAPES` class attributes."""
    heads = graph.heads
    outs, _ = _outputs(graph)
    in_desc = ", ".join(f"{graph.attrs(n)['name']} {fmt_shape(graph.shape(n))}" for n in inputs)
    out_desc = ", ".join(f"{h.name} {fmt_shape(graph.shape(h.node))}" for h in outs)
    aux_desc = ", ".join(
        f"{h.name} {fmt_shape(graph.shape(h.node))} (weight {h.weight:g})"
        for h in heads
        if h.kind == "aux"
    )
    src = [
        f"class {name}(nn.Module):",
        f'    """Model `{docstring_text(graph.name)}`.',
        "",
        f"    Inputs: {docstring_text(in_desc)} (batch dimension first, dynamic).",
        f"    Outputs: {docstring_text(out_desc)}.",
    ]
    if aux_desc:
        src.append(f"    Aux heads (training mode only): {docstring_text(aux_desc)}.")
    src.append(f"    Weight initialisation: {init} ({INIT_SCHEMES[init]}).")
    src += ['    """', ""]
    head_tuple = ", ".join(f"({h.name!r}, {h.kind!r}, {h.weight!r})" for h in heads)
    src.append(f"    HEADS = ({head_tuple},)  # (name, kind, loss weight)")
    shapes = ", ".join(pyval(graph.shape(n)) for n in inputs)
    src.append(f"    INPUT_SHAPES = ({shapes},)  # per input, without the batch dimension")
    src.append("")
    return src


def _method_body(lines: list[str]) -> list[str]:
    """`lines` indented as a method's body."""
    return ["        " + line for line in lines]


def class_source(
    graph: Graph,
    init: str = DEFAULT_INIT,
    name: str | None = None,
    taken: set[str] | frozenset[str] = frozenset(),
    flat: bool = False,
) -> tuple[str, str]:
    """(class name, source of the output named tuples and the module class) for one graph.

    `name` overrides the class name (default `class_name(graph.name)`); `taken` are the other
    module-level names of the file, which no local of `forward` may shadow. The class builds one
    class per block (`structured`) unless `flat` or -O2 kernels ask for the flat form (every
    layer registered and run by the model's class itself). The sources of the block classes
    follow the model's class.
    """
    name = name or class_name(graph.name)
    reserved = reserved_names(name, taken)
    plan = _plan(graph, reserved)
    # __init__: containers and parametric modules, registered in execution order (main path,
    # then aux heads, then layers no head uses) so state_dict order follows it
    helpers: list[str] = []
    if flat or flat_only(graph):
        init_body = _init_body(graph, plan.main + plan.aux + plan.rest)
        forward_body = _forward_body(graph, plan, name)
    else:
        outs, has_aux = _outputs(graph)
        eval_tuple = name + "EvalOutputs" if has_aux else name + "Outputs"

        def returns(kind: str, _: list[int]) -> str:
            if kind == "train":
                return _tuple_expr(name + "Outputs", graph.heads, plan.var)
            return _tuple_expr(eval_tuple, outs, plan.var)

        init_body, forward_body, helpers = structured(
            graph, plan.main, plan.aux, plan.rest, plan.var, reserved, returns
        )
    src = _output_tuples(graph, name) + _class_header(graph, name, init, plan.inputs)
    src += ["    def __init__(self) -> None:", "        super().__init__()"]
    src += _method_body([*init_body, "self.reset_parameters()", *kernels.init_lines(graph)])
    src += ["", "    def reset_parameters(self) -> None:"]
    src += _method_body(_init_lines(init, graph))
    args = ", ".join(f"{plan.var[n]}: torch.Tensor" for n in plan.inputs)
    src += ["", f"    def forward(self, {args}):"]
    src += _method_body(forward_body)
    src += ["", *LOSS_METHOD]
    for helper in helpers:
        src += ["", "", helper]
    return name, "\n".join(src)


def torch_source(
    graphs: Graph | list[Graph],
    init: str = DEFAULT_INIT,
    origin: str | None = None,
    flat: bool = False,
) -> str:
    """The standalone Python module for one or more model graphs (imports only torch); `flat`
    writes every model as one flat class (the form -O2 kernels keep; for comparisons)."""
    if isinstance(graphs, Graph):
        graphs = [graphs]
    where = f" from {docstring_text(origin)}" if origin else ""
    names = class_names([g.name for g in graphs])
    taken = {n + suffix for n in names for suffix in ("", "Outputs", "EvalOutputs")}
    models = ", ".join(f"{c} ({g.name})" for c, g in zip(names, graphs, strict=True))
    body = [
        f'"""PyTorch modules generated by incept-dsl {__version__}{where}.',
        "",
        "Models: " + docstring_text(models) + ".",
        "Regenerate instead of editing; the state_dict keys follow the program's scope names.",
        '"""',
        "",
        "from typing import NamedTuple",
        "",
        "import torch",
        "import torch.nn.functional as F",
        "from torch import nn",
        "",
    ]
    if any(kernels.uses_fused_conv(g) for g in graphs):
        body += [*kernels.FUSED_CONV_SOURCE.rstrip().split("\n"), ""]
    for g, cname in zip(graphs, names, strict=True):
        _, cls = class_source(g, init, cname, taken, flat)
        taken |= set(re.findall(r"^class (\w+)", cls, flags=re.M))
        body += ["", cls, ""]
    return "\n".join(body).rstrip() + "\n"


_CLASS_CACHE: dict[str, type] = {}


def module_class(graph: Graph, init: str = DEFAULT_INIT) -> type:
    """The `nn.Module` subclass for `graph`, compiled from `torch_source` (cached by source)."""
    import torch  # noqa: F401 - the generated code needs it importable

    source = torch_source(graph, init)
    key = hashlib.sha256(source.encode()).hexdigest()
    if key in _CLASS_CACHE:
        return _CLASS_CACHE[key]
    filename = f"<incept-dsl:{comment_text(graph.name)}:{key[:12]}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(f"incept_dsl.generated.{class_name(graph.name)}_{key[:12]}")
    module.__file__ = filename
    exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102 - our own generated code
    # importable by its name, as strict torch.export (dynamo) needs to resolve the code's globals
    sys.modules[module.__name__] = module
    cls = getattr(module, class_name(graph.name))
    _CLASS_CACHE[key] = cls
    return cls


def build_module(
    graph: Graph, state_dict: Mapping[str, Any] | None = None, init: str = DEFAULT_INIT
) -> Any:
    """An instance of the generated module, with `state_dict` (torch tensors or numpy arrays)
    loaded strictly when given."""
    import torch

    module = module_class(graph, init)()
    if state_dict is not None:
        module.load_state_dict({k: torch.as_tensor(v) for k, v in state_dict.items()}, strict=True)
    return module
