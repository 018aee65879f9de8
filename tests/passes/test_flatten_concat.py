"""flatten-concat: a concat read only by another concat is spliced into it, in order."""

from __future__ import annotations

from helpers import model
from optimizer_helpers import carried, outputs_agree

from incept_dsl.passes.flatten_concat import flatten_concat

NESTED = """model t {
    input x: 4x6x6
    output y = x -> concat {
        conv(3, 1)
        concat { conv(5, 1); concat { conv(2, 3); conv(1, 1) } }
        maxpool(3, stride = 1)
    }
}"""


def test_nested_concats_become_one_in_order():
    m = model(NESTED)
    net0, net, g = carried(m, ("flatten-concat",))
    (cat,) = g.nodes("concat")
    ins = g.inputs(cat)
    assert [g.op(i) for i in ins] == ["conv", "conv", "conv", "conv", "maxpool"]
    assert [g.shape(i)[0] for i in ins[:4]] == [3, 5, 2, 1]
    assert g.shape(cat) == m.graph.shape(m.graph.heads[0].node)
    outputs_agree(net0, net, m)
    assert flatten_concat(g) is False  # idempotent


def test_a_concat_read_elsewhere_or_twice_stays():
    m = model("""model t {
        input x: 4x6x6
        inner = x -> concat { conv(3, 1); conv(5, 1) }
        output y = inner -> concat { identity; conv(2, 1) }
        output z = inner -> concat { identity; identity }
    }""")
    g = m.graph.copy()
    assert flatten_concat(g) is False
    assert len(list(g.nodes("concat"))) == 3


def test_inception_v3_loses_its_four_inner_concats():
    import incept_dsl

    m = incept_dsl.load("inception_v3.incept", model="inception_v3")
    before = len(list(m.graph.nodes("concat")))
    after = len(list(m.optimized(1).nodes("concat")))
    assert (before, after) == (15, 11)  # as many as torch.onnx's export has
