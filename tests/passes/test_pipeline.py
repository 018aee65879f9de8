"""The optimiser's proof on every bundled architecture: for every level the optimised module, with
the -O0 weights carried through the passes, computes the -O0 module's outputs within 1e-4
(relative to the output's magnitude) on random inputs, random weights and non-trivial batch-norm
statistics; every pass is idempotent; the IR verifies after every pass (run_pipeline checks it)."""

from __future__ import annotations

import pytest
from optimizer_helpers import arch_models, ids, load_small, randomize, rel_err

import incept_dsl
from incept_dsl.ir.verify import verify
from incept_dsl.passes import PASSES, PIPELINES, run_pipeline

MODELS = arch_models()


@pytest.mark.parametrize(("file", "model"), MODELS, ids=ids(MODELS))
def test_levels_compute_the_same_outputs(file: str, model: str) -> None:
    import torch

    m = load_small(file, model)
    torch.manual_seed(0)
    net0 = randomize(m.to_torch()).eval()
    state = net0.state_dict()
    x = [torch.randn(2, *shape) for shape in m.inputs.values()]
    with torch.no_grad():
        ref = net0(*x)
        for level in (1, 2):
            net = m.to_torch(opt_level=level, state_dict=state)
            assert not net.training
            out = net(*x)
            assert out.shape == ref.shape
            assert rel_err(out, ref) < 1e-4, f"-O{level}"


@pytest.mark.parametrize(("file", "model"), MODELS, ids=ids(MODELS))
def test_every_pass_is_idempotent_and_verifies(file: str, model: str) -> None:
    g = incept_dsl.load(f"{file}", model=model).graph.copy()
    for name in PIPELINES[2]:
        PASSES[name](g)
        verify(g, after=name)
        assert PASSES[name](g) is False, f"{name} changed the graph on its second run"
    again = run_pipeline(g, 2)
    assert again.dump() == g.dump()


def test_a_broken_pass_is_named_with_the_passes_before_it(monkeypatch):
    from incept_dsl.errors import CompilerBug

    def breaks_shapes(g):
        n = next(iter(g.nodes("conv")))
        g.node(n)["shape"] = (1, 1, 1)
        return True

    def crashes(g):
        raise KeyError("boom")

    m = incept_dsl.load("googlenet.incept", model="googlenet")
    monkeypatch.setitem(PASSES, "breaks-shapes", breaks_shapes)
    monkeypatch.setitem(PASSES, "crashes", crashes)
    with pytest.raises(CompilerBug, match=r"after pass 'breaks-shapes' \(passes run: prune-aux\)"):
        run_pipeline(m.graph, passes=("prune-aux", "breaks-shapes"))
    with pytest.raises(
        CompilerBug,
        match=r"pass 'crashes' failed \(passes run before it: "
        r"prune-aux\): KeyError",
    ):
        run_pipeline(m.graph, passes=("prune-aux", "crashes"))


#: The v2 activations where every pass acts: batch norms to fold, a scale to fold, sibling convs
#: (equal and unequal leaky ReLU slopes), a residual add before an activation (select-kernels).
V2_ACTIVATIONS = """
block unit(c, s = 0.01) = residual(scale = 0.5) {
    conv(c, 1, act = hardswish) -> conv(c, 3, act = leaky_relu) -> leaky_relu(slope = s)
} -> hardswish
model acts(classes = 5) {
    input x: 3x20x20
    defaults conv(bn = true)
    defaults leaky_relu(slope = 0.1)
    s = x -> conv(16, 3, stride = 2, act = hardswish) -> unit(16) -> unit(16, -0.2)
    y = s -> concat {
        conv(8, 1, act = leaky_relu) -> hardsigmoid
        conv(8, 1, act = leaky_relu) -> leaky_relu(slope = 0.3)
        conv(8, 1, act = leaky_relu) -> leaky_relu(slope = 0.4)
        conv(4, 3, act = hardsigmoid) -> conv(8, 1, act = leaky_relu)
    } -> maxpool(2)
    output logits = y -> avgpool(global) -> flatten -> linear(12, act = hardswish)
        -> linear(classes, act = leaky_relu)
}
"""


def _levels_agree(source: str) -> incept_dsl.Model:
    """-O1 and -O2 modules of `source` give the -O0 outputs (random weights, a 3×20×20 batch)."""
    import torch

    m = incept_dsl.loads(source)
    torch.manual_seed(0)
    net0 = randomize(m.to_torch()).eval()
    state = net0.state_dict()
    x = torch.randn(3, 3, 20, 20) * 3.0
    with torch.no_grad():
        ref = net0(x)
        for level in (1, 2):
            out = m.to_torch(opt_level=level, state_dict=state)(x)
            assert rel_err(out, ref) < 1e-4, f"-O{level}"
    return m


def test_levels_compute_the_same_outputs_with_the_v2_activations() -> None:
    m = _levels_agree(V2_ACTIVATIONS)
    g = run_pipeline(m.graph, 2)
    assert not any(g.op(n) == "batchnorm" for n in g.order())  # folded
    assert len(list(g.nodes("leaky_relu"))) < len(list(m.graph.nodes("leaky_relu")))  # merged
    for name in PIPELINES[2]:
        assert PASSES[name](g) is False, name


#: The v2 `mul` join where the passes act around it: MobileNetV3-style inverted residuals with
#: squeeze-and-excitation (batch norms to fold on both sides of the product, a residual add after
#: it for select-kernels), sibling convs reading one tensor inside a `mul` (they merge), a scale
#: after a conv inside a `mul` (folds into it), one after a gate's sigmoid and one after a product
#: (both stay), a gate joined by name.
V2_MUL = """
block se(ratio = 4) = mul {
    identity
    avgpool(global) -> conv(make_divisible(in_channels / ratio), 1, bn = false, act = relu)
                    -> conv(in_channels, 1, bn = false, act = hardsigmoid)
}
block ir(expand) = residual {
    conv(expand, 1, act = hardswish) -> conv(expand, 3, groups = expand, act = hardswish) -> se
        -> conv(in_channels, 1, act = none)
}
model gated(classes = 5) {
    input x: 3x20x20
    defaults conv(bn = true)
    s = x -> conv(16, 3, stride = 2, act = hardswish) -> ir(32) -> ir(48)
    t = s -> mul { conv(16, 1, act = sigmoid); conv(16, 1) -> scale(0.5) } -> relu
    g = t -> avgpool(global) -> conv(16, 1, bn = false, act = sigmoid) -> scale(2.0)
    output logits = mul(g, t) -> scale(0.5) -> avgpool(global) -> flatten -> linear(classes)
}
"""


def test_levels_compute_the_same_outputs_with_mul_joins() -> None:
    m = _levels_agree(V2_MUL)
    g = run_pipeline(m.graph, 2)
    assert len(list(g.nodes("mul"))) == len(list(m.graph.nodes("mul"))) == 4
    assert not any(g.op(n) == "batchnorm" for n in g.order())  # folded
    assert any(g.scope(n).startswith("merged_") for n in g.nodes("conv"))  # siblings merged
    # the scale after a conv inside the mul folded into it; after the gate's sigmoid and after the
    # product there is no layer to fold into
    assert [g.scope(n) for n in g.nodes("scale")] == ["scale_1", "scale_2"]
    for name in PIPELINES[2]:
        assert PASSES[name](g) is False, name
