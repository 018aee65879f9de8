"""select-kernels: packed oneDNN convs with fused activations, in-place activations only where
nothing else can see the tensor."""

from __future__ import annotations

from helpers import model
from optimizer_helpers import outputs_agree, randomize

from incept_dsl.passes import run_pipeline
from incept_dsl.passes.select_kernels import select_kernels

PROGRAM = """model t {
    input x: 3x8x8
    defaults conv(act = relu)
    a = x -> conv(4, 3)
    b = a -> conv(4, 3, act = none)
    output y = add(a, b) -> relu -> flatten -> relu -> linear(3) -> relu
}
"""


def test_annotations():
    g = run_pipeline(model(PROGRAM).graph, passes=("select-kernels",))
    conv1, conv2 = g.by_scope("conv_1"), g.by_scope("conv_2")
    assert g.meta(conv1) == {"kernel": "onednn", "fused_act": "relu"}
    assert g.meta(g.by_scope("conv_1.relu")) == {"fused_into": conv1}
    a = g.by_scope("conv_1.relu")
    # conv_2 -> add(a, .) -> relu: one kernel, since `a` is computed before conv_2
    assert g.meta(conv2) == {"kernel": "onednn", "fused_act": "relu", "fused_add": a}
    assert g.meta(g.by_scope("add_1")) == {"fused_into": conv2}
    assert g.meta(g.by_scope("relu_1")) == {"fused_into": conv2}
    assert g.meta(g.by_scope("relu_2")) == {}  # after flatten: a view of relu_1's tensor
    assert g.meta(g.by_scope("relu_3")) == {"inplace": True}  # after linear: a fresh tensor


def test_a_conv_fuses_the_activation_only_it_feeds():
    g = run_pipeline(
        model("""model t { input x: 3x8x8
        output y = x -> conv(4, 3, act = relu) -> conv(2, 1, act = sigmoid) }""").graph,
        passes=("select-kernels",),
    )
    c1, c2 = g.by_scope("conv_1"), g.by_scope("conv_2")
    assert g.meta(c1)["fused_act"] == "relu" and g.meta(c2)["fused_act"] == "sigmoid"
    assert g.meta(g.by_scope("conv_1.relu"))["fused_into"] == c1
    assert select_kernels(g) is False


def test_an_add_whose_other_input_comes_later_is_not_fused():
    g = run_pipeline(
        model("""model t { input x: 3x8x8
        b = x -> conv(3, 1)
        c = x -> conv(3, 3) -> conv(3, 3) -> relu
        output y = add(b, c) }""").graph,
        passes=("select-kernels",),
    )
    b = g.by_scope("conv_1")
    assert "fused_add" not in g.meta(b)  # add's other input (c) is computed after conv_1
    assert g.meta(g.by_scope("add_1")) == {}


def test_a_residual_add_without_activation_is_fused_alone():
    m = model("""model t { input x: 4x8x8
        output y = x -> residual(scale = 0.5) { conv(4, 3, act = relu) -> conv(4, 1) } }""")
    g = run_pipeline(m.graph, passes=("fold-scale", "select-kernels"))
    last = g.by_scope("conv_2")
    assert g.meta(last)["fused_add"] == g.input_nodes()[0] and g.meta(last)["fused_act"] == "none"
    net0 = randomize(m.to_torch()).eval()
    outputs_agree(net0, m.to_torch(opt_level=2, state_dict=net0.state_dict()), m)
