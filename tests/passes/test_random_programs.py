"""The optimiser and the ONNX backend on random programs (hypothesis) that mix language v1 and v2:
branches of convs with random kernels, strides, batch norms, activations (hardswish, hardsigmoid,
leaky_relu among them) and scales, followed now and then by a v2 op that keeps the picture's size
(a squeeze-and-excitation `mul` gate, channel_shuffle, layer_scale, groupnorm, layernorm,
stochastic_depth, a size-keeping conv_transpose, a slice); joined by concat or residual; before
the join a trunk that may upsample (upsample, a strided conv_transpose), crop or normalise; after
it, now and then, a token tail (tokens -> class_token -> pos_embedding -> attention -> select) or
a flat one (layernorm, linear, slice); a head reading the input directly.

Every level computes the -O0 outputs within 1e-4, every pass is idempotent, the IR verifies
after every pass, and onnxruntime computes the -O0 outputs within 1e-4 at -O0, -O1 and -O2 (at an
opset drawn per program) on random non-trivial weights."""

from __future__ import annotations

import os
import sys

import numpy as np
from helpers import model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optimizer_helpers import outputs_agree, randomize

from incept_dsl.ir.verify import verify
from incept_dsl.passes import PASSES, PIPELINES

# elaboration raises the recursion limit on first use; do it now so hypothesis does not warn
sys.setrecursionlimit(max(sys.getrecursionlimit(), 20_000))

#: HYPOTHESIS_PROFILE=long runs 20x the examples.
EXAMPLES = 25 * (20 if os.environ.get("HYPOTHESIS_PROFILE") == "long" else 1)

ACTS = (
    "relu",
    "none",
    "sigmoid",
    "tanh",
    "relu6",
    "silu",
    "hardswish",
    "hardsigmoid",
    "leaky_relu",
)

#: A squeeze-and-excitation gate (LANGUAGE.md section 12): `mul`, `in_channels`, make_divisible.
SE = """block se(ratio = 4) = mul {
    identity
    avgpool(global) -> conv(make_divisible(in_channels / ratio, 2), 1, act = relu)
        -> conv(in_channels, 1, act = hardsigmoid)
}
"""

#: Ops of the trunk before the join: 6 channels stay 6; the first two double the picture's size.
TRUNK = (
    "upsample(scale = 2)",
    "conv_transpose(6, 2, stride = 2, bn = true, act = relu)",
    "conv_transpose(6, 3, stride = 2, padding = 1, output_padding = 1)",
    "upsample(size = 9x8, mode = bilinear)",
    "groupnorm(3)",
    "layernorm",
    "channel_shuffle(3)",
    "se",
    "hardswish",
    "layer_scale(2.0)",
    "crop(5x6)",  # fits every picture the trunk makes (at least 7×7, 5×6 after a crop)
)


def _divisors(c: int) -> list[int]:
    return [g for g in range(1, c + 1) if c % g == 0]


@st.composite
def v2_op(draw, c: int) -> tuple[str, int]:
    """A v2 op that keeps the picture's size, after a tensor of `c` channels: (text, channels)."""
    kind = draw(st.integers(0, 10))
    if kind == 0:
        start = draw(st.integers(0, c - 1))
        end = draw(st.integers(start + 1, c))
        return f"slice({start}, {end})", end - start
    if kind == 1:
        return f"groupnorm({draw(st.sampled_from(_divisors(c)))})", c
    if kind == 2:
        return f"channel_shuffle({draw(st.sampled_from(_divisors(c)))})", c
    if kind == 3:
        out = draw(st.integers(1, 6))
        act = draw(st.sampled_from(ACTS))
        bn = draw(st.booleans())
        return f"conv_transpose({out}, 3, padding = 1, bn = {str(bn).lower()}, act = {act})", out
    return draw(
        st.sampled_from(
            [
                "se",
                "se(2)",
                "layernorm",
                "layernorm(eps = 1e-3)",
                "layer_scale(0.5)",
                "stochastic_depth(0.2)",
                "hardswish",
                "hardsigmoid",
                "leaky_relu(slope = 0.2)",
            ]
        )
    ), c


@st.composite
def convs(draw, bn_default: bool) -> tuple[str, int]:
    """A conv, now and then scaled or followed by a v2 op: (text, output channels)."""
    c = draw(st.integers(1, 6))
    k = draw(st.sampled_from(["1", "1", "1", "3", "1x3"]))
    args = [str(c), k]
    if draw(st.booleans()):
        args.append(f"act = {draw(st.sampled_from(ACTS))}")
    if draw(st.integers(0, 3)) == 0:
        args.append(f"bn = {str(not bn_default).lower()}")
    text = f"conv({', '.join(args)})"
    if draw(st.integers(0, 4)) == 0:
        text += f" -> scale({draw(st.sampled_from(['0.5', '2.0']))})"
    if draw(st.integers(0, 2)) == 0:
        op, c = draw(v2_op(c))
        text += f" -> {op}"
    return text, c


@st.composite
def tails(draw, d: int) -> str:
    """After the join (`d` channels): nothing, a token tail or a flat tail."""
    kind = draw(st.integers(0, 2))
    if kind == 0:
        return ""
    if kind == 1:
        heads = draw(st.sampled_from(_divisors(d)))
        mlp = (
            f" -> residual {{ layernorm -> linear({2 * d}, act = gelu) -> linear({d})"
            " -> layer_scale(0.5) -> stochastic_depth(0.1) }"
            if draw(st.booleans())
            else ""
        )
        return (
            f" -> tokens -> class_token -> pos_embedding -> residual {{ layernorm -> "
            f"attention({heads}) }}{mlp} -> layernorm -> select({draw(st.integers(0, 1))})"
        )
    return (
        " -> avgpool(global) -> flatten -> layernorm -> linear(8, act = hardswish) -> slice(2, 6)"
    )


@st.composite
def programs(draw) -> str:
    bn = draw(st.booleans())
    trunk = draw(st.lists(st.sampled_from(TRUNK), max_size=2))
    doubling = [i for i, t in enumerate(trunk) if t in TRUNK[:3]]
    trunk = [t for i, t in enumerate(trunk) if i not in doubling[1:]]  # one doubling at most
    branches, width = [], 0
    for _ in range(draw(st.integers(1, 4))):
        chain, c = [], 0
        for _ in range(draw(st.integers(1, 3))):
            text, c = draw(convs(bn))
            chain.append(text)
        if draw(st.integers(0, 4)) == 0:
            chain.insert(0, "maxpool(3, stride = 1)")
        branches.append(" -> ".join(chain))
        width += c
    join = draw(st.sampled_from(["concat", "residual"]))
    defaults = "defaults conv(bn = true, act = relu, bias = false)" if bn else ""
    if join == "concat":
        body = "concat {\n" + "\n".join(f"        {b}" for b in branches) + "\n    }"
    else:
        ending = draw(st.sampled_from(["", " -> layer_scale(0.5)", " -> stochastic_depth(0.3)"]))
        body = (
            "residual(scale = 0.3) {\n        concat {\n"
            + "\n".join(f"            {b}" for b in branches)
            + f"\n        }} -> conv(6, 1, act = none, bn = false){ending}\n    }} -> relu"
        )
        width = 6
    start = "".join(f"{t} -> " for t in trunk)
    extra = ""
    if draw(st.booleans()):
        extra = f"    output side = x -> {draw(convs(bn))[0]}\n"
    return (
        f"{SE}model r {{\n    input x: 6x7x7\n    {defaults}\n"
        f"    output y = x -> {start}{body}{draw(tails(width))}\n{extra}}}\n"
    )


def _noisy(net):
    """`randomize`'s weights (random biases and batch-norm statistics) plus N(0, 0.1²) on every
    parameter, so that zero class tokens and unit norms are not special."""
    import torch

    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in randomize(net).parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.1)
    return net.eval()


def _onnx_agrees(m, net0, opset: int) -> None:
    """onnxruntime computes the -O0 module's outputs within 1e-4 at every level (one input)."""
    import onnx
    import onnxruntime as ort
    import torch

    state = net0.state_dict()
    xs = {
        n: np.random.default_rng(3).standard_normal((2, *s), dtype=np.float32)
        for n, s in m.inputs.items()
    }
    with torch.no_grad():
        out = net0(*(torch.from_numpy(x) for x in xs.values()))
    want = [t.numpy() for t in (out if isinstance(out, tuple) else (out,))]
    for level in (0, 1, 2):
        data = m.to_onnx(opt_level=level, state_dict=state, opset=opset).SerializeToString()
        onnx.checker.check_model(data, full_check=True)
        got = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, xs)
        for g, w in zip(got, want, strict=True):
            rel = float(np.abs(g - w).max() / max(float(np.abs(w).max()), 1e-30))
            assert rel < 1e-4, (level, opset, rel)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.sampled_from([11, 13, 16, 17, 18]))
def test_random_programs_keep_their_outputs(text: str, opset: int) -> None:
    m = model(text)
    g = m.graph.copy()
    for name in PIPELINES[2]:
        PASSES[name](g)
        verify(g, after=name)
        assert PASSES[name](g) is False, name
    net0 = _noisy(m.to_torch())
    for level in (1, 2):
        outputs_agree(net0, m.to_torch(opt_level=level, state_dict=net0.state_dict()), m)
    _onnx_agrees(m, net0, opset)
