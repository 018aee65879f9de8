"""select-kernels: packed oneDNN convs with fused activations, in-place activations only where
nothing else can see the tensor."""

from __future__ import annotations

from helpers import model

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
    assert g.meta(conv2) == {"kernel": "onednn", "fused_act": "none"}  # no activation
    assert g.meta(g.by_scope("relu_1")) == {"inplace": True}  # after a two-input add
    assert g.meta(g.by_scope("relu_2")) == {}  # after flatten: a view of relu_1's tensor
    assert g.meta(g.by_scope("relu_3")) == {"inplace": True}  # after linear: a fresh tensor


def test_a_conv_fuses_the_activation_only_it_feeds():
    g = run_pipeline(model("""model t { input x: 3x8x8
        output y = x -> conv(4, 3, act = relu) -> conv(2, 1, act = sigmoid) }""").graph,
        passes=("select-kernels",))
    c1, c2 = g.by_scope("conv_1"), g.by_scope("conv_2")
    assert g.meta(c1)["fused_act"] == "relu" and g.meta(c2)["fused_act"] == "sigmoid"
    assert g.meta(g.by_scope("conv_1.relu"))["fused_into"] == c1
    assert select_kernels(g) is False
