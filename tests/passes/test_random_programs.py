"""The optimiser on random Inception-style programs (hypothesis): branches of convs with random
kernels, strides, batch norms, activations and scales, joined by concat, add or residual; heads
reading branch outputs directly. Every level computes the -O0 outputs within 1e-4, every pass is
idempotent, and the IR verifies after every pass."""

from __future__ import annotations

import os
import sys

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


@st.composite
def convs(draw, bn_default: bool) -> str:
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
    return text


@st.composite
def programs(draw) -> str:
    bn = draw(st.booleans())
    branches = []
    for _ in range(draw(st.integers(1, 4))):
        chain = [draw(convs(bn)) for _ in range(draw(st.integers(1, 3)))]
        if draw(st.integers(0, 4)) == 0:
            chain.insert(0, "maxpool(3, stride = 1)")
        branches.append(" -> ".join(chain))
    join = draw(st.sampled_from(["concat", "residual"]))
    defaults = "defaults conv(bn = true, act = relu, bias = false)" if bn else ""
    if join == "concat":
        body = "concat {\n" + "\n".join(f"        {b}" for b in branches) + "\n    }"
    else:
        body = (
            "residual(scale = 0.3) {\n        concat {\n"
            + "\n".join(f"            {b}" for b in branches)
            + "\n        } -> conv(6, 1, act = none, bn = false)\n    } -> relu"
        )
    extra = ""
    if draw(st.booleans()):
        extra = f"    output side = x -> {draw(convs(bn))}\n"
    return (
        f"model r {{\n    input x: 6x7x7\n    {defaults}\n    output y = x -> {body}\n{extra}}}\n"
    )


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_programs_keep_their_outputs(text: str) -> None:
    m = model(text)
    g = m.graph.copy()
    for name in PIPELINES[2]:
        PASSES[name](g)
        verify(g, after=name)
        assert PASSES[name](g) is False, name
    net0 = randomize(m.to_torch()).eval()
    for level in (1, 2):
        outputs_agree(net0, m.to_torch(opt_level=level, state_dict=net0.state_dict()), m)
