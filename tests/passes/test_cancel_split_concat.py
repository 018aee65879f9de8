"""cancel-split-concat: concatenating a split's pieces in order gives the split tensor back."""

from __future__ import annotations

from helpers import model
from optimizer_helpers import carried, outputs_agree

from incept_dsl.passes.cancel_split_concat import cancel_split_concat

PASSES = ("merge-sibling-convs", "cancel-split-concat")


def test_a_concat_of_all_pieces_is_the_merged_tensor():
    m = model("""model t {
        input x: 4x6x6
        output y = x -> concat { conv(3, 1, act = relu); conv(5, 1, act = relu) }
    }""")
    net0, net, g = carried(m, PASSES)
    assert [g.op(n) for n in g.order()] == ["input", "conv", "relu"]
    assert g.op(g.heads[0].node) == "relu"
    outputs_agree(net0, net, m)


def test_adjacent_pieces_join_inside_a_longer_concat():
    m = model("""model t {
        input x: 4x6x6
        output y = x -> concat {
            conv(3, 1)
            conv(5, 1)
            maxpool(3, stride = 1)
            conv(2, 1) -> conv(2, 3)
        }
    }""")
    net0, net, g = carried(m, PASSES)
    (cat,) = g.nodes("concat")
    ins = g.inputs(cat)
    assert [g.op(i) for i in ins] == ["slice", "maxpool", "conv"]
    assert (g.attrs(ins[0])["start"], g.attrs(ins[0])["end"]) == (0, 8)
    assert len(list(g.nodes("slice"))) == 2  # the joined piece and the one feeding conv(2, 3)
    outputs_agree(net0, net, m)


def test_out_of_order_pieces_stay():
    m = model("""model t {
        input x: 4x6x6
        a = x -> concat { conv(3, 1); conv(5, 1) }
        output y = x -> conv(2, 3)
    }""")
    g = m.graph.copy()
    assert cancel_split_concat(g) is False
