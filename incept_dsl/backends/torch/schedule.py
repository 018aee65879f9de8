"""PyTorch backend, what a generated `forward` does with memory: the order its nodes run in,
when it drops its last reference to each tensor, and which activations run in place.

`schedule(graph)` walks the module `codegen.class_source` writes for the graph: the same plan
(`codegen._plan`), the same unit tree with the same repeats collapsed (`structured.model_units`),
and the same rules for freeing and in-place ops (`frees`), so the cost tables (`summary.memory`)
describe the generated forward without importing torch. In a block class's `forward` a tensor
dies after its last reader there unless it is returned; the block's inputs are the caller's and
live until the call returns (the caller's local and the parameter both hold them); a repeat run
as `for block in ...: out = block(out)` drops each copy's input when that copy returns (the loop
rebinds `out`), the repeat's own input too when the caller's chain goes on in `out`. The model's
class keeps its heads and what the aux heads read to the end; the aux heads (training mode) run
after the main path and free nothing at the model's level (their blocks free inside as usual).
A graph with -O2 kernels keeps the flat form: nodes in plan order, a tensor freed after its last
main-path reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from incept_dsl.backends.torch.frees import frame_frees, in_place
from incept_dsl.backends.torch.units import Unit, item_reads
from incept_dsl.ir.graph import Graph


@dataclass(frozen=True)
class Schedule:
    """What the generated forward does. `order`: the nodes it runs, main path first (the eval
    forward runs `order[:main]`), then the aux heads' (training mode). `release[t]`: the index
    into `order` after which the forward holds no reference to tensor `t` (a node's output, or
    an input the forward rebinds); a tensor not in it is held to the end (a head, what the aux
    heads read, the model's inputs in the structured form). `in_place`: the nodes whose
    output is their input's memory (`inplace=True`; -O2's own in-place kernels are the graph's
    `meta["inplace"]`)."""

    order: tuple[int, ...]
    main: int
    release: dict[int, int]
    in_place: frozenset[int]
    structured: bool


@dataclass
class _Walk:
    """The state of replaying one forward: nodes run so far, releases, in-place nodes."""

    graph: Graph
    order: list[int] = field(default_factory=list)
    release: dict[int, int] = field(default_factory=dict)
    in_place: set[int] = field(default_factory=set)

    def frame(self, items: list[int | Unit], keep: set[int], frees: bool = True) -> list[int]:
        """Run `items` of one `forward` in order; returns the tensors they made there."""
        g = self.graph
        reads = [item_reads(g, i) for i in items]
        dies = frame_frees(reads, keep) if frees else [[] for _ in items]
        made: list[int] = []
        for item, dying in zip(items, dies, strict=True):
            if isinstance(item, Unit) and item.sequence:
                self.sequence(item, dying)
            else:
                if isinstance(item, Unit):
                    self.unit(item)
                else:
                    self.order.append(item)
                    if in_place(g, item, dying):
                        self.in_place.add(item)
                for t in dying:
                    self.release[t] = len(self.order) - 1
            made += item.outputs if isinstance(item, Unit) else [item]
        return made

    def unit(self, u: Unit) -> None:
        """A call of block class instance `u`: its frame keeps its inputs and outputs; what it
        made and does not return (read by nothing that runs) goes when it returns."""
        made = self.frame(u.items, set(u.inputs) | set(u.outputs))
        for t in made:
            if t not in u.outputs:
                self.release.setdefault(t, len(self.order) - 1)

    def sequence(self, seq: Unit, dying: list[int]) -> None:
        """`for block in seq: out = block(out)` (`render._loop`): each copy's input goes when
        that copy returns; the repeat's input with the first copy when it dies at the loop."""
        prev = dying
        for copy in seq.items:
            assert isinstance(copy, Unit)
            self.unit(copy)
            for t in prev:
                self.release[t] = len(self.order) - 1
            prev = [t for t in copy.outputs if t not in seq.outputs]


def schedule(graph: Graph, flat: bool = False) -> Schedule:
    """The `Schedule` of the module `torch_source(graph, flat=flat)` writes for `graph` alone."""
    from incept_dsl.backends.torch.codegen import _plan, flat_keep, reserved_names
    from incept_dsl.backends.torch.naming import class_name
    from incept_dsl.backends.torch.structured import flat_only, model_units, root_items

    reserved = reserved_names(class_name(graph.name))
    plan = _plan(graph, reserved)
    walk = _Walk(graph)
    if flat or flat_only(graph):
        dies = frame_frees([graph.inputs(n) for n in plan.main], flat_keep(graph, plan.aux))
        for idx, ts in enumerate(dies):
            walk.release.update(dict.fromkeys(ts, idx))
        walk.order = plan.main + plan.aux
        return Schedule(tuple(walk.order), len(plan.main), walk.release, frozenset(), False)
    root, _, ctx = model_units(graph, plan.main, plan.aux, plan.rest, reserved)
    main_items, aux_items, keep = root_items(graph, root, ctx.roles)
    walk.frame(main_items, keep | set(plan.inputs))
    main = len(walk.order)
    walk.frame(aux_items, keep | set(plan.inputs), frees=False)
    return Schedule(tuple(walk.order), main, walk.release, frozenset(walk.in_place), True)
