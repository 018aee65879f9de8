"""fold-scale: a residual branch's constant scale goes into the conv before it."""

from __future__ import annotations

from helpers import model
from optimizer_helpers import carried, outputs_agree

from incept_dsl.passes.fold_scale import fold_scale
from incept_dsl.passes.recipes import Load, Scale

RESIDUAL = """model t {
    input x: 8x8x8
    defaults conv(bn = true, act = relu, bias = false)
    block b(scale = 0.17) = residual(scale = scale) {
        concat { conv(4, 1); conv(4, 1) -> conv(4, 3) } -> conv(8, 1, bn = false, bias = true, act = none)
    } -> relu
    output y = x -> b -> b(scale = 0.5)
}
"""


def test_scales_fold_into_the_convs_with_the_same_outputs():
    m = model(RESIDUAL)
    net0, net, g = carried(m, ("fold-scale",))
    assert list(g.nodes("scale")) == []
    conv = g.by_scope("b_1.conv_1")
    assert g.meta(conv)["weights"] == Scale(Load("b_1.conv_1", "conv"), 0.17)
    assert g.users(conv) == [(g.by_scope("b_1.add_1"), 1)]
    outputs_agree(net0, net, m)


def test_a_scale_not_after_a_layer_stays_and_the_pass_is_idempotent():
    m = model("""model t {
        input x: 3x8x8
        output y = x -> conv(4, 1, act = relu) -> scale(2.0)
    }""")
    g = m.graph.copy()
    assert fold_scale(g) is False
    assert len(list(g.nodes("scale"))) == 1
    g2 = model(RESIDUAL).graph.copy()
    assert fold_scale(g2) is True and fold_scale(g2) is False
