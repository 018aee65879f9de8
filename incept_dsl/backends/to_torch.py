"""PyTorch backend: the IR -> the source of a standalone `nn.Module` that imports only torch.

`torch_source(graph)` guarantees a deterministic, readable Python module with one class per model:
one `nn.Conv2d` / `nn.BatchNorm2d` / `nn.Linear` per parametric node, registered at the node's
scope path (`inception_3a.branch_2.conv_1`), a `forward` that runs the nodes in the graph's stable
topological order, aux heads computed only in training mode, and a `loss` helper weighting the
heads as the program declares. `build_module(graph)` compiles that same source in-process (as
torch.fx does for its GraphModules), so the in-process module and the written file cannot drift.

The generated code contains only identifiers derived from validated `.incept` names and literals
produced by `repr` of ints, floats, bools and tuples: nothing of the program text is executed.
"""

from __future__ import annotations

import ast
import hashlib
import keyword
import linecache
import re
import sys
import types
from collections.abc import Callable
from typing import Any

from incept_dsl import __version__
from incept_dsl.backends import torch_kernels as kernels
from incept_dsl.backends.pytext import BUILTIN_NAMES, comment_text, docstring_text
from incept_dsl.backends.torch_init import DEFAULT_INIT, INIT_SCHEMES
from incept_dsl.backends.torch_init import init_lines as _init_lines
from incept_dsl.ir.graph import Graph

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _top_level_names(source: str) -> set[str]:
    """The names a module's source defines at its top level (functions, classes, assignments)."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


#: Module-level names of a generated file (its imports and the -O2 kernel source): no class or
#: forward local may take one of them.
MODULE_GLOBALS = frozenset(
    {"NamedTuple", "torch", "F", "nn"} | _top_level_names(kernels.FUSED_CONV_SOURCE)
)


def class_name(model: str) -> str:
    """`inception_v3` -> `InceptionV3`; always a valid identifier that names nothing else the
    generated file defines or uses (`none` -> `NoneModel`, `f` -> `FModel`)."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", model) if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts) or "Model"
    if name[0].isdigit():
        name = "M" + name
    if keyword.iskeyword(name) or name in BUILTIN_NAMES or name in MODULE_GLOBALS:
        name += "Model"
    return name


def class_names(models: list[str]) -> list[str]:
    """One class name per model (`class_name`, numbered where two would clash), such that no
    class, `<class>Outputs` or `<class>EvalOutputs` of one model equals another's."""
    taken: set[str] = set()
    out: list[str] = []
    for model in models:
        base, k = class_name(model), 1
        name = base
        while {name, name + "Outputs", name + "EvalOutputs"} & taken:
            k += 1
            name = f"{base}{k}"
        taken |= {name, name + "Outputs", name + "EvalOutputs"}
        out.append(name)
    return out


def _pyval(v: Any) -> str:
    """A literal for an attr value (ints, floats, bools, tuples thereof)."""
    if isinstance(v, bool | int):
        return repr(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, tuple):
        return "(" + ", ".join(_pyval(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    raise TypeError(f"unexpected attribute value {v!r}")


def _attr_path(scope: str) -> str:
    """`a.0.conv_1` -> `self.a[0].conv_1`."""
    out = "self"
    for part in scope.split("."):
        if part.isdigit():
            out += f"[{part}]"
        else:
            if not _IDENT.match(part) or keyword.iskeyword(part):
                raise ValueError(f"scope part {part!r} is not an identifier")
            out += f".{part}"
    return out


# ---- lowering table: op -> (module constructor or None, forward expression) ---------------------
Lowering = Callable[[dict[str, Any], tuple[int, ...], list[str], str], tuple[str | None, str]]


def _conv(a, shape, ins, mod):
    ctor = (
        f"nn.Conv2d({a['in_channels']}, {a['out_channels']}, kernel_size={_pyval(a['kernel'])}"
        f", stride={_pyval(a['stride'])}, padding={_pyval(a['padding'])}"
        + (f", dilation={_pyval(a['dilation'])}" if a["dilation"] != (1, 1) else "")
        + (f", groups={a['groups']}" if a["groups"] != 1 else "")
        + f", bias={a['bias']})"
    )
    return ctor, f"{mod}({ins[0]})"


def _bn(a, shape, ins, mod):
    kind = "BatchNorm2d" if len(shape) == 3 else "BatchNorm1d"
    ctor = f"nn.{kind}({a['num_features']}, eps={a['eps']!r}, momentum={a['momentum']!r})"
    return ctor, f"{mod}({ins[0]})"


def _linear(a, shape, ins, mod):
    return (
        f"nn.Linear({a['in_features']}, {a['out_features']}, bias={a['bias']})",
        f"{mod}({ins[0]})",
    )


def _pool(fn: str):
    def lower(a, shape, ins, mod):
        extra = f", ceil_mode={a['ceil']}" if a["ceil"] else ""
        if fn == "avg_pool2d" and not a["count_include_pad"]:
            extra += ", count_include_pad=False"
        return None, (
            f"F.{fn}({ins[0]}, {_pyval(a['kernel'])}, {_pyval(a['stride'])}, "
            f"{_pyval(a['padding'])}{extra})"
        )

    return lower


def _fn(template: str):
    def lower(a, shape, ins, mod):
        return None, template.format(*ins, **a)

    return lower


_LOWER: dict[str, Lowering] = {
    "conv": _conv,
    "batchnorm": _bn,
    "linear": _linear,
    "maxpool": _pool("max_pool2d"),
    "avgpool": _pool("avg_pool2d"),
    "global_avgpool": _fn("F.adaptive_avg_pool2d({0}, 1)"),
    "adaptive_avgpool": lambda a, s, i, m: (
        None,
        f"F.adaptive_avg_pool2d({i[0]}, {_pyval(a['size'])})",
    ),
    "lrn": _fn("F.local_response_norm({0}, {size}, alpha={alpha!r}, beta={beta!r}, k={k!r})"),
    "relu": _fn("F.relu({0})"),
    "relu6": _fn("F.relu6({0})"),
    "gelu": _fn("F.gelu({0})"),
    "silu": _fn("F.silu({0})"),
    "sigmoid": _fn("torch.sigmoid({0})"),
    "tanh": _fn("torch.tanh({0})"),
    "softmax": _fn("F.softmax({0}, dim={dim})"),
    "dropout": _fn("F.dropout({0}, {p!r}, self.training)"),
    "flatten": _fn("torch.flatten({0}, 1)"),
    "scale": _fn("{0} * {s!r}"),
    "concat": lambda a, s, i, m: (None, f"torch.cat([{', '.join(i)}], 1)"),
    "add": lambda a, s, i, m: (None, " + ".join(i)),
    "slice": _fn("{0}[:, {start}:{end}]"),
}

PARAMETRIC = ("conv", "batchnorm", "linear")


class _Names:
    """Unique Python identifiers for tensors, derived from scopes."""

    RESERVED = {"self", "torch", "nn", "F", "NamedTuple", "x", "outputs", "target", "criterion"}

    def __init__(self, reserved: set[str] | frozenset[str] = frozenset()) -> None:
        self.used: set[str] = set(self.RESERVED) | MODULE_GLOBALS | set(reserved)

    def fresh(self, base: str) -> str:
        name = re.sub(r"\W", "_", base.replace(".", "_"), flags=re.ASCII) or "t"
        if name[0].isdigit() or keyword.iskeyword(name) or name.startswith("__"):
            name = "t_" + name
        candidate, k = name, 1
        while candidate in self.used:
            k += 1
            candidate = f"{name}_{k}"
        self.used.add(candidate)
        return candidate


def _fmt(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape))


def class_source(
    graph: Graph,
    init: str = DEFAULT_INIT,
    name: str | None = None,
    taken: set[str] | frozenset[str] = frozenset(),
) -> tuple[str, str]:
    """(class name, source of the output named tuples and the module class) for one graph.

    `name` overrides the class name (default `class_name(graph.name)`); `taken` are the other
    module-level names of the file, which no local of `forward` may shadow.
    """
    name = name or class_name(graph.name)
    order = graph.order()
    heads = graph.heads
    outs = [h for h in heads if h.kind == "output"]
    eval_nodes: set[int] = set()
    train_nodes: set[int] = set()
    import networkx as nx

    for h in heads:
        anc = nx.ancestors(graph.nx, h.node) | {h.node}
        (eval_nodes if h.kind == "output" else train_nodes).update(anc)
    train_only = train_nodes - eval_nodes

    # ---- forward
    names = _Names(set(taken) | {name, name + "Outputs", name + "EvalOutputs"})
    var: dict[int, str] = {}
    inputs = graph.input_nodes()
    for n in inputs:
        var[n] = names.fresh(graph.attrs(n)["name"])
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

    # ---- __init__: containers and parametric modules, registered in execution order
    # (main path, then aux heads, then layers no head uses) so state_dict order follows it
    rest = [n for n in order if n not in eval_nodes and n not in train_only]
    registration = main + aux + rest
    init_lines: list[str] = []
    containers: dict[str, int] = {}  # container path -> ModuleList length (0: plain Module)
    for n in registration:
        if graph.op(n) not in PARAMETRIC:
            continue
        parts = graph.scope(n).split(".")
        for i in range(1, len(parts)):
            path = ".".join(parts[:i])
            nxt = parts[i]
            if nxt.isdigit():
                containers[path] = max(containers.get(path, 0), int(nxt) + 1)
            else:
                containers.setdefault(path, 0)
    declared: set[str] = set()
    for n in registration:
        op = graph.op(n)
        if op not in PARAMETRIC:
            continue
        parts = graph.scope(n).split(".")
        for i in range(1, len(parts)):
            path = ".".join(parts[:i])
            if path in declared or path.split(".")[-1].isdigit():
                continue
            declared.add(path)
            size = containers[path]
            ctor = f"nn.ModuleList([nn.Module() for _ in range({size})])" if size else "nn.Module()"
            init_lines.append(f"{_attr_path(path)} = {ctor}")
        lowered, _ = _LOWER[op](graph.attrs(n), graph.shape(n), ["x"], "")
        assert lowered is not None  # parametric ops construct a module
        ctor = kernels.module_ctor(graph, n, lowered)  # -O2 kernel choice, if any
        span = graph.span(n)
        where = f"  # {comment_text(span.file.split('/')[-1])}:{span.line}" if span else ""
        init_lines.append(f"{_attr_path(graph.scope(n))} = {ctor}{where}")

    def stmt(n: int) -> str:
        op = graph.op(n)
        ins = [var[i] for i in graph.inputs(n)]
        _, expr = _LOWER[op](graph.attrs(n), graph.shape(n), ins, _attr_path(graph.scope(n)))
        expr = kernels.forward_expr(graph, n, ins, expr, var)  # -O2 kernel choice, if any
        return f"{var[n]} = {expr}  # {_fmt(graph.shape(n))}"

    # free a tensor after its last use in the main sequence (unless a head or aux needs it)
    keep = {h.node for h in heads} | {i for n in aux for i in graph.inputs(n)}
    last_use: dict[int, int] = {}
    for idx, n in enumerate(main):
        for i in graph.inputs(n):
            last_use[i] = idx
    frees: dict[int, list[str]] = {}
    for t, idx in last_use.items():
        if t not in keep:
            frees.setdefault(idx, []).append(var[t])

    fwd: list[str] = kernels.input_lines(graph, [(var[n], graph.shape(n)) for n in inputs])
    for idx, n in enumerate(main):
        fwd.append(stmt(n))
        if idx in frees:
            fwd.append("del " + ", ".join(sorted(frees[idx])))

    def tup(cls: str, hs: list) -> str:
        if len(hs) == 1:
            return var[hs[0].node]
        return f"{cls}(" + ", ".join(f"{h.name}={var[h.node]}" for h in hs) + ")"

    has_aux = any(h.kind == "aux" for h in heads)
    if has_aux:
        fwd.append("if self.training:")
        fwd.extend("    " + stmt(n) for n in aux)
        fwd.append(f"    return {tup(name + 'Outputs', heads)}")
    fwd.append(f"return {tup(name + 'EvalOutputs' if has_aux else name + 'Outputs', outs)}")

    # ---- assemble
    src: list[str] = []
    tuples: list[tuple[str, list]] = []
    if len(heads) > 1:
        tuples.append((name + "Outputs", heads))
    if has_aux and len(outs) > 1:
        tuples.append((name + "EvalOutputs", outs))
    for tname, hs in tuples:
        src.append(f"class {tname}(NamedTuple):")
        for h in hs:
            src.append(f"    {h.name}: torch.Tensor")
        src += ["", ""]
    in_desc = ", ".join(f"{graph.attrs(n)['name']} {_fmt(graph.shape(n))}" for n in inputs)
    out_desc = ", ".join(f"{h.name} {_fmt(graph.shape(h.node))}" for h in outs)
    aux_desc = ", ".join(
        f"{h.name} {_fmt(graph.shape(h.node))} (weight {h.weight:g})"
        for h in heads
        if h.kind == "aux"
    )
    src.append(f"class {name}(nn.Module):")
    src.append(f'    """Model `{docstring_text(graph.name)}`.')
    src.append("")
    src.append(f"    Inputs: {docstring_text(in_desc)} (batch dimension first, dynamic).")
    src.append(f"    Outputs: {docstring_text(out_desc)}.")
    if aux_desc:
        src.append(f"    Aux heads (training mode only): {docstring_text(aux_desc)}.")
    src.append(f"    Weight initialisation: {init} ({INIT_SCHEMES[init]}).")
    src.append('    """')
    src.append("")
    head_tuple = ", ".join(f"({h.name!r}, {h.kind!r}, {h.weight!r})" for h in heads)
    src.append(f"    HEADS = ({head_tuple},)  # (name, kind, loss weight)")
    shapes = ", ".join(_pyval(graph.shape(n)) for n in inputs)
    src.append(f"    INPUT_SHAPES = ({shapes},)  # per input, without the batch dimension")
    src.append("")
    src.append("    def __init__(self) -> None:")
    src.append("        super().__init__()")
    src.extend("        " + line for line in init_lines)
    src.append("        self.reset_parameters()")
    src.extend("        " + line for line in kernels.init_lines(graph))
    src.append("")
    src.append("    def reset_parameters(self) -> None:")
    src.extend("        " + line for line in _init_lines(init, graph))
    src.append("")
    args = ", ".join(f"{var[n]}: torch.Tensor" for n in inputs)
    src.append(f"    def forward(self, {args}):")
    src.extend("        " + line for line in fwd)
    src.append("")
    src.append("    def loss(self, outputs, target, criterion=None):")
    src.append(
        '        """Weighted sum of the heads\' losses, with the weights the program declares.'
    )
    src.append("")
    src.append("        `outputs` is what `forward` returned (training or eval mode); `criterion`")
    src.append("        defaults to cross-entropy. Returns (total, {head name: unweighted loss}).")
    src.append('        """')
    src.append("        criterion = criterion if criterion is not None else F.cross_entropy")
    src.append("        weights = {h: w for h, _, w in self.HEADS}")
    src.append("        if isinstance(outputs, torch.Tensor):")
    src.append("            first = next(h for h, kind, _ in self.HEADS if kind == 'output')")
    src.append("            outputs = {first: outputs}")
    src.append("        else:")
    src.append("            outputs = outputs._asdict()")
    src.append("        parts = {h: criterion(out, target) for h, out in outputs.items()}")
    src.append("        total = sum(weights[h] * part for h, part in parts.items())")
    src.append("        return total, parts")
    return name, "\n".join(src)


def torch_source(
    graphs: Graph | list[Graph], init: str = DEFAULT_INIT, origin: str | None = None
) -> str:
    """The standalone Python module for one or more model graphs (imports only torch)."""
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
        _, cls = class_source(g, init, cname, taken)
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


def build_module(graph: Graph, state_dict: dict | None = None, init: str = DEFAULT_INIT):
    """An instance of the generated module, with `state_dict` loaded strictly when given."""
    module = module_class(graph, init)()
    if state_dict is not None:
        module.load_state_dict(state_dict, strict=True)
    return module
