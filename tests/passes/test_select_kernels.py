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


def test_the_v2_activations_run_in_place_but_are_not_fused_into_the_conv():
    """oneDNN's fused convolution is trusted only for `FUSABLE` (relu, sigmoid, tanh): hardswish,
    hardsigmoid and leaky_relu follow their conv as at -O0, in place where that is safe (a leaky
    ReLU of negative slope has no in-place backward in PyTorch, so it never runs in place)."""
    m = model("""model t { input x: 3x8x8
        a = x -> conv(4, 3, act = hardswish) -> conv(4, 3, act = leaky_relu) -> hardsigmoid
        output y = a -> conv(4, 1, act = leaky_relu) -> leaky_relu(slope = -0.5) -> flatten
            -> hardswish -> leaky_relu(slope = 0.2) }""")
    g = run_pipeline(m.graph, passes=("select-kernels",))
    for conv in ("conv_1", "conv_2", "conv_3"):
        assert g.meta(g.by_scope(conv)) == {"kernel": "onednn", "fused_act": "none"}
    for act in ("conv_1.hardswish", "conv_2.leaky_relu", "hardsigmoid_1", "conv_3.leaky_relu"):
        assert g.meta(g.by_scope(act)) == {"inplace": True}, act
    assert g.meta(g.by_scope("leaky_relu_1")) == {}  # slope < 0
    assert g.meta(g.by_scope("hardswish_1")) == {}  # after flatten: a view
    assert g.meta(g.by_scope("leaky_relu_2")) == {"inplace": True}
    src = m.torch_source(opt_level=2)
    assert "F.leaky_relu(conv_3_leaky_relu, -0.5)" in src
    assert "F.hardswish(conv_1, inplace=True)" in src
    assert "F.leaky_relu(hardswish_1, 0.2, inplace=True)" in src
    net0 = randomize(m.to_torch()).eval()
    outputs_agree(net0, m.to_torch(opt_level=2, state_dict=net0.state_dict()), m)
