"""The IR graph's staged construction answers every query as its networkx graph does."""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incept_dsl.ir.graph import Graph, Head


@st.composite
def programs(draw):
    """A random dataflow: inputs, then ops reading earlier nodes (some twice), then heads."""
    n_inputs = draw(st.integers(1, 3))
    n_ops = draw(st.integers(0, 25))
    nodes = []
    for i in range(n_ops):
        k = draw(st.integers(1, 3))
        nodes.append(draw(st.lists(st.integers(0, n_inputs + i - 1), min_size=k, max_size=k)))
    total = n_inputs + n_ops
    heads = draw(
        st.lists(
            st.tuples(st.sampled_from(["output", "aux"]), st.integers(0, total - 1)),
            min_size=1,
            max_size=4,
        )
    )
    return n_inputs, nodes, heads


def build(program) -> Graph:
    n_inputs, nodes, heads = program
    g = Graph("m")
    for i in range(n_inputs):
        g.data["inputs"].append(f"x{i}")
        g.add_node("input", {"name": f"x{i}"}, [], (3, 8, 8), f"x{i}", None)
    for i, reads in enumerate(nodes):
        g.add_node("add" if i % 2 else "relu", {}, reads, (3, 8, 8), f"op_{i}", None)
    for j, (kind, node) in enumerate(heads):
        g.heads.append(Head(f"h{j}", kind, 1.0 if kind == "output" else 0.3, node))
    return g


def answers(g: Graph) -> tuple:
    """Everything a query of the unchanged graph says."""
    return (
        len(g),
        g.order(),
        list(g.nodes("add")),
        [g.inputs(n) for n in g.order()],
        g.input_nodes(),
        g.live_nodes(),
        g.live_nodes(("output",)),
        g.by_scope("x0"),
        g.dump(),
        [n in g for n in range(-1, len(g) + 1)],
    )


@settings(max_examples=150, deadline=None)
@given(programs())
def test_a_staged_graph_answers_as_its_networkx_graph(program):
    staged = build(program)
    built = build(program)
    assert isinstance(built.nx, nx.MultiDiGraph)  # builds the networkx graph now
    assert staged._nx is None
    assert answers(staged) == answers(built)
    assert staged._nx is None  # no query above needed networkx


@settings(max_examples=50, deadline=None)
@given(programs())
def test_building_the_networkx_graph_keeps_every_node_edge_and_datum(program):
    g = build(program)
    before = [dict(g.node(n)) for n in g.order()], g.dump()
    data = g.data
    graph = g.nx
    assert graph.graph is data  # graph-level data is one dict throughout
    assert ([dict(g.node(n)) for n in g.order()], g.dump()) == before
    assert sorted(graph.edges(keys=True, data="port")) == sorted(
        (src, n, port, port) for n in g.order() for port, src in enumerate(g.inputs(n))
    )


def test_a_copy_of_a_staged_graph_is_independent():
    g = build((1, [[0], [1, 0]], [("output", 2)]))
    c = g.copy()
    assert c.dump() == g.dump()
    c.attrs(1)["k"] = 1
    c.data["inputs"].append("y")
    assert "k" not in g.attrs(1) and g.data["inputs"] == ["x0"]


def test_an_explicit_sort_key_orders_as_networkx_does():
    g = Graph()
    a = g.add_node("input", {"name": "x"}, [], (1,), "x", None)
    b = g.add_node("relu", {}, [a], (1,), "b", None, pos=(5,))
    c = g.add_node("relu", {}, [a], (1,), "c", None, pos=(1,))
    assert g.order() == [a, c, b]
    assert g._nx is not None


def test_reading_a_node_that_does_not_exist_is_refused():
    g = Graph()
    g.add_node("input", {"name": "x"}, [], (1,), "x", None)
    with pytest.raises(ValueError, match="reads %3"):
        g.add_node("relu", {}, [3], (1,), "r", None)
    assert len(g) == 1
    _ = g.nx
    with pytest.raises(ValueError, match="reads %7"):
        g.add_node("relu", {}, [0, 7], (1,), "r", None)
    assert len(g) == 1


def test_mutation_after_staging_goes_through_networkx():
    g = build((1, [[0], [1], [1]], [("output", 2), ("aux", 3)]))
    assert g.eliminate_dead_code(("output",))
    assert g._nx is not None
    assert g.order() == [0, 1, 2]
    assert [h.name for h in g.heads] == ["h0"]
