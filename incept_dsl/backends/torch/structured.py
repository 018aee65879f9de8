"""PyTorch backend, the structured form of a model's class (-O0): its `__init__` builds the block
classes (`classes`) where the flat form registered every layer, and its `forward` calls them.

`structured(graph, ...)` gives the model class's `__init__` and `forward` bodies and the sources of
the block classes, or None for a graph whose kernels -O2 chose (fused convs name tensors across
blocks: that module keeps the flat form). The state_dict (keys and order), the outputs and the
points where tensors are freed are those of the flat form, except that a block's input lives
until the block returns (its caller holds it).
"""

from __future__ import annotations

from collections.abc import Callable

from incept_dsl.backends.torch import kernels
from incept_dsl.backends.torch.classes import Classes
from incept_dsl.backends.torch.lowering import pyval
from incept_dsl.backends.torch.render import Code, Context, Forward, render_forward, render_init
from incept_dsl.backends.torch.units import Unit, unit_tree
from incept_dsl.ir.graph import Graph

_KERNEL_META = ("kernel", "fused_into", "fused_add", "inplace")


def flat_only(graph: Graph) -> bool:
    """Whether `graph` carries -O2 kernel annotations (the flat form then)."""
    if kernels.channels_last(graph):
        return True
    return any(k in graph.meta(n) for n in graph.nx for k in _KERNEL_META)


def structured(
    graph: Graph,
    main: list[int],
    aux: list[int],
    rest: list[int],
    var: dict[int, str],
    reserved: set[str],
    tuple_expr: Callable[[str, list[int]], str],
) -> tuple[list[str], list[str], list[str]]:
    """(`__init__` body, `forward` body, block classes) of the model's class. `var` names the
    graph's inputs (the forward's parameters); `tuple_expr(kind, nodes)` is the return expression
    of the heads ("train": every head, "eval": the outputs) given their locals."""
    root, classes, ctx = model_units(graph, main, aux, rest, reserved)
    roles = ctx.roles
    registration = ctx.registration

    def concrete(c: Unit) -> str:
        cls = classes.of[id(c)]
        return f"{cls.name}({', '.join(pyval(v) for v in cls.args[id(c)])})"

    rctx = Context(
        graph, registration, ctx.containers, roles, concrete, {}, reserved | classes.taken, False
    )
    code = Code()
    render_init(root, rctx, code)
    inputs = graph.input_nodes()
    fwd = Forward({n: var[n] for n in inputs}, {var[n] for n in inputs}, _names(rctx, var, inputs))
    fwd.labels = {h.node: h.name for h in graph.heads}  # a head's tensor: the head's name

    main_items, aux_items, keep = root_items(graph, root, roles)
    render_forward(root, rctx, code, main_items, fwd, keep, "x")
    var.update(fwd.var)
    body = kernels.input_lines(graph, [(var[n], graph.shape(n)) for n in inputs]) + code.forward
    if aux_items:
        aux_code = Code()
        render_forward(root, rctx, aux_code, aux_items, fwd, keep, "x", frees=False)
        var.update(fwd.var)
        body += ["if self.training:", *("    " + line for line in aux_code.forward)]
        body.append(f"    return {tuple_expr('train', [])}")
    body.append(f"return {tuple_expr('eval', [])}")
    return code.init, body, [classes.of[id(u)].source for u in _first_instances(classes, root)]


def model_units(
    graph: Graph, main: list[int], aux: list[int], rest: list[int], reserved: set[str]
) -> tuple[Unit, Classes, Context]:
    """(the model's unit tree as the file runs it, a repeat of identical copies collapsed into
    one sequence item; its block classes; the rendering context) for the nodes by role."""
    position = {n: i for i, n in enumerate(main + aux + rest)}
    roles = {n: "main" for n in main} | {n: "aux" for n in aux} | {n: "rest" for n in rest}
    root = unit_tree(graph, roles, position)
    from incept_dsl.backends.torch.codegen import _containers

    registration = main + aux + rest
    ctx = Context(graph, registration, _containers(graph, registration), roles, str, {}, reserved)
    return root, Classes(ctx, root, reserved), ctx


def root_items(
    graph: Graph, root: Unit, roles: dict[int, str]
) -> tuple[list[int | Unit], list[int | Unit], set[int]]:
    """(the model's items on the main path, those of the aux heads, the tensors the main path
    keeps to the end: the heads and what the aux items read)."""

    def role(item: int | Unit) -> str:
        return roles[min(item.subtree) if isinstance(item, Unit) else item]

    main_items = [i for i in root.items if role(i) == "main"]
    aux_items = [i for i in root.items if role(i) == "aux"]
    keep = {h.node for h in graph.heads} | {
        t for i in aux_items for t in (i.inputs if isinstance(i, Unit) else graph.inputs(i))
    }
    return main_items, aux_items, keep


def _names(ctx: Context, var: dict[int, str], inputs: list[int]):
    from incept_dsl.backends.torch.naming import TensorNames

    names = TensorNames(ctx.reserved | {var[n] for n in inputs})
    if "x" not in ctx.reserved and "x" not in {var[n] for n in inputs}:
        names.used.discard("x")  # the model's chain of tensors, as torchvision names it
    return names


def _first_instances(classes: Classes, root: Unit) -> list[Unit]:
    """One instance per class, in the order the model first uses them."""
    out: list[Unit] = []
    seen: set[int] = set()
    todo = [root]
    while todo:
        u = todo.pop(0)
        for c in u.instances:
            cls = classes.of[id(c)]
            if id(cls) not in seen:
                seen.add(id(cls))
                out.append(c)
            todo.append(c)
    return out
