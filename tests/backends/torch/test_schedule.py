"""What a generated forward does with memory (`incept_dsl.backends.torch.schedule`): the order
its nodes run in, when each tensor's last reference goes (a block's input lives until the call
returns, a repeat's loop drops each copy's input when that copy returns), which activations run
in place, and the flat form of -O2 graphs. The cost tables' peak built on it is checked against
the real module in tests/backends/summary/test_memory.py."""

from __future__ import annotations

import re

import incept_dsl
from incept_dsl.backends.torch.schedule import schedule
from incept_dsl.ir.graph import Graph

PROGRAM = """
block pair(c) = conv(c, 1) -> relu -> conv(c, 1) -> avgpool(3, stride = 1, padding = 1)
block tail(c) = relu -> conv(c, 1)
model m {
    input x: 2x4x4
    output y = x -> conv(2, 1) -> relu -> pair(2) as u -> repeat(3) { conv(2, 1) -> relu } as r
        -> tail(2) as t -> flatten -> linear(3)
}
"""


def _by_scope(g: Graph) -> dict[str, int]:
    return {g.scope(n): n for n in g.nodes() if g.op(n) != "input"}


def _index(g: Graph, order: tuple[int, ...]) -> dict[str, int]:
    return {g.scope(n): i for i, n in enumerate(order)}


def test_a_block_input_lives_until_the_block_returns() -> None:
    model = incept_dsl.loads(PROGRAM)
    g = model.graph
    s, node = schedule(g), _by_scope(g)
    at = _index(g, s.order)
    assert s.structured and s.main == len(s.order) == len(node)
    # the block's input is read by its first conv only, but the caller holds it until `u` returns
    assert s.release[node["relu_1"]] == at["u.avgpool_1"]
    # inside the block a chain tensor goes after its last reader (the in-place ReLU keeps it)
    assert s.release[node["u.conv_1"]] == at["u.relu_1"]
    assert s.release[node["u.relu_1"]] == at["u.conv_2"]
    # each repeat copy (a block call) holds its input until it returns
    assert s.release[node["u.avgpool_1"]] == at["r.0.relu_1"]
    assert s.release[node["r.0.relu_1"]] == at["r.1.relu_1"]
    assert node["linear_1"] not in s.release  # the head: kept to the end
    assert {g.scope(n) for n in s.in_place} == {
        "relu_1",
        "u.relu_1",
        "r.0.relu_1",
        "r.1.relu_1",
        "r.2.relu_1",
    }
    # `t`'s ReLU reads the block's input, which its caller still holds: not in place
    tail = model.torch_source().split("class Tail(nn.Module):")[1]
    assert "out = F.relu(x)  #" in tail and "inplace" not in tail


def test_a_repeat_loop_drops_each_copy_input_when_that_copy_returns() -> None:
    model = incept_dsl.load("resnet.incept", model="resnet50")
    assert "for block in self.repeat_1:\n            out = block(out)" in model.torch_source()
    g = model.graph
    s = schedule(g)
    at = _index(g, s.order)
    last = {}  # copy scope -> index of its last node
    for scope, i in at.items():
        if scope.startswith("layer1.repeat_1."):
            copy = ".".join(scope.split(".")[:3])
            last[copy] = max(last.get(copy, -1), i)
    assert sorted(last) == ["layer1.repeat_1.0", "layer1.repeat_1.1"]
    made_by = {g.scope(n): n for n in s.order}
    down_out = max(
        (n for n in s.order if g.scope(n).startswith("layer1.bottleneck_down_1.")),
        key=s.order.index,
    )
    # the stage's chain goes on in `out`: the loop rebinds it after the first copy returns
    assert s.release[down_out] == last["layer1.repeat_1.0"]
    first_out = made_by[max((sc for sc in at if sc.startswith("layer1.repeat_1.0.")), key=at.get)]
    assert s.release[first_out] == last["layer1.repeat_1.1"]


def test_order_runs_every_main_node_once_in_dependency_order_then_the_aux_heads() -> None:
    model = incept_dsl.load("googlenet.incept", model="googlenet_tv")
    g = model.graph
    s = schedule(g)
    assert len(set(s.order)) == len(s.order)
    pos = {n: i for i, n in enumerate(s.order)}
    for n in s.order:
        assert all(pos[i] < pos[n] for i in g.inputs(n) if g.op(i) != "input")
    aux = {g.scope(n) for n in s.order[s.main :]}
    assert aux and all(sc.startswith(("aux1", "aux2")) for sc in aux)
    outputs = [h.node for h in g.heads if h.kind == "output"]
    assert set(outputs) <= set(s.order[: s.main])
    # every tensor the main path releases was made before it goes, and goes after its readers
    for t, idx in s.release.items():
        assert pos[t] <= idx
        assert all(pos[v] <= idx for v, _ in g.users(t) if v in pos and pos[v] < s.main)


def test_the_in_place_relus_are_the_generated_ones() -> None:
    """Every `inplace=True` of the file is a node the schedule runs in place: at -O0 the model
    class of VGG-11 has none of its own, its blocks' ReLUs after a conv are."""
    model = incept_dsl.load("vgg.incept", model="vgg11")
    g = model.graph
    s = schedule(g)
    relus = [n for n in s.order if g.op(n) == "relu"]
    assert relus and set(relus) == set(s.in_place)
    calls = re.findall(r"F\.relu\([^)]*\)", model.torch_source())
    assert calls and all(c.endswith(", inplace=True)") for c in calls)


def test_o2_graphs_keep_the_flat_forward() -> None:
    model = incept_dsl.load("googlenet.incept", model="googlenet_tv")
    g = model.optimized(2)
    s = schedule(g)
    assert not s.structured and not s.in_place
    order = [n for n in g.order() if n in set(s.order)]
    assert list(s.order[: s.main]) == [n for n in order if n in set(s.order[: s.main])]


def test_the_schedule_is_deterministic() -> None:
    a = schedule(incept_dsl.load("resnet.incept", model="resnet18").graph)
    b = schedule(incept_dsl.load("resnet.incept", model="resnet18").graph)
    assert (a.order, a.release, a.in_place) == (b.order, b.release, b.in_place)
