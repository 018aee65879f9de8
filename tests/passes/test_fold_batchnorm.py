"""fold-batchnorm: folds into convs and linears with the same outputs; keeps what it cannot fold."""

from __future__ import annotations

from helpers import model
from optimizer_helpers import carried, outputs_agree

from incept_dsl.passes import run_pipeline
from incept_dsl.passes.fold_batchnorm import fold_batchnorm
from incept_dsl.passes.recipes import FoldBN, Load, sources

PROGRAM = """model t {
    input x: 3x10x10
    defaults conv(bn = true, act = relu, bias = false)
    a = x -> conv(8, 3) -> conv(6, 1, bias = true)
    output y = a -> avgpool(global) -> flatten -> linear(5) -> bn
}
"""


def test_folds_every_batch_norm_with_the_same_outputs():
    m = model(PROGRAM)
    net0, net, g = carried(m, ("fold-batchnorm",))
    assert list(g.nodes("batchnorm")) == []
    conv = g.by_scope("conv_1.conv")
    assert g.attrs(conv)["bias"] is True
    assert g.meta(conv)["weights"] == FoldBN(
        Load("conv_1.conv", "conv"), Load("conv_1.bn", "batchnorm"), 1e-5
    )
    assert sources(g.meta(g.by_scope("linear_1"))["weights"]) == ["linear_1", "batchnorm_1"]
    outputs_agree(net0, net, m)


def test_the_layer_keeps_its_scope_span_and_position():
    m = model(PROGRAM)
    conv = m.graph.by_scope("conv_1.conv")
    g = run_pipeline(m.graph, passes=("fold-batchnorm",))
    assert g.span(conv) == m.graph.span(conv) and g.node(conv)["pos"] == m.graph.node(conv)["pos"]
    assert g.users(conv) == [(g.by_scope("conv_1.relu"), 0)]


def test_a_batch_norm_whose_layer_output_is_read_elsewhere_stays():
    m = model("""model t {
        input x: 3x8x8
        c = x -> conv(4, 1)
        d = c -> bn
        output y = add(c, d)
    }""")
    notes: list[str] = []
    g = run_pipeline(m.graph, passes=("fold-batchnorm",), log=lambda *a: notes.extend(a[3]))
    assert len(list(g.nodes("batchnorm"))) == 1
    assert any("also used elsewhere" in n for n in notes)


def test_a_batch_norm_after_a_join_stays():
    m = model("""model t {
        input x: 3x8x8
        output y = x -> concat { conv(4, 1); conv(4, 3) } -> bn
    }""")
    g = m.graph.copy()
    assert fold_batchnorm(g) is False
    assert len(list(g.nodes("batchnorm"))) == 1


def test_a_batch_norm_folds_into_a_transposed_conv_per_output_channel():
    """The weight is in × out/groups × kh × kw: the scale goes along dim 1 within each group
    (with in = out = 6 and 2 groups, scaling dim 0 would run and be wrong)."""
    m = model("""model t {
        input x: 6x5x5
        output y = x -> conv_transpose(6, 3, stride = 2, groups = 2, bn = true, act = relu)
    }""")
    notes: list[str] = []
    run_pipeline(m.graph, passes=("fold-batchnorm",), log=lambda *a: notes.extend(a[3]))
    assert notes == [
        "folded 1 batch norm into the layers before them (1 into a transposed convolution)"
    ]
    net0, net, g = carried(m, ("fold-batchnorm",))
    (layer,) = g.nodes("conv_transpose")
    assert not list(g.nodes("batchnorm")) and g.attrs(layer)["bias"] is True
    assert g.meta(layer)["weights"] == FoldBN(
        Load("conv_transpose_1.conv", "conv_transpose"),
        Load("conv_transpose_1.bn", "batchnorm"),
        1e-5,
    )
    outputs_agree(net0, net, m)
