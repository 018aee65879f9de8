"""`Model.diff` / `incept_dsl.backends.summary.diff`: the structural comparison of two models."""

from __future__ import annotations

import incept_dsl
from incept_dsl.backends.summary.diff import block_pairs, changes, layers

PLAIN = """
block unit(c) = residual { conv(c, 3, bn = true, act = relu) -> conv(c, 3, bn = true) }
model plain {
    input x: 8x8x8
    output y = x -> conv(16, 3) -> unit(16) as stage -> avgpool(global) -> flatten -> linear(4)
}
"""
GATED = """
block se = mul {
    identity
    avgpool(global) -> conv(in_channels // 4, 1, act = relu) -> conv(in_channels, 1, act = sigmoid)
}
block unit(c) = residual { conv(c, 3, bn = true, act = relu) -> conv(c, 3, bn = true) -> se }
model gated {
    input x: 8x8x8
    output y = x -> conv(16, 5) -> unit(16) as stage -> avgpool(global) -> flatten -> linear(4)
}
"""


def test_a_model_against_itself_has_no_difference() -> None:
    m = incept_dsl.load("resnet.incept", model="resnet18")
    text = m.diff(m)
    assert "no structural difference" in text
    params = next(line for line in text.splitlines() if line.startswith("params"))
    assert params.split() == ["params", "11,689,512", "11,689,512", "0"]


def test_an_inserted_block_and_a_changed_kernel_are_named_with_their_parameters() -> None:
    a, b = incept_dsl.loads(PLAIN, name="a.incept"), incept_dsl.loads(GATED, name="b.incept")
    text = a.diff(b)
    se_params = (16 * 4 + 4) + (4 * 16 + 16)
    conv_delta = 16 * 8 * (25 - 9)
    lines = text.splitlines()
    assert lines[0] == "plain vs gated"
    assert f"+{se_params + conv_delta:,}" in text  # the params total
    assert "~ conv_1: 3×3 Conv, 16  16×8×8 -> 5×5 Conv, 16  16×8×8  (params 1,168 -> 3,216)" in (
        text
    )
    added = [line for line in lines if line.startswith("  + ")]
    assert [line.split(":")[0] for line in added] == [
        "  + stage.se_1.branch_2.avgpool_1",
        "  + stage.se_1.branch_2.conv_1",
        "  + stage.se_1.branch_2.conv_1.relu",
        "  + stage.se_1.branch_2.conv_2",
        "  + stage.se_1.branch_2.conv_2.sigmoid",
        "  + stage.se_1.mul_1",
    ]
    block = next(line for line in lines if line.startswith("  stage "))
    assert f"+{se_params:,}" in block and "6 added" in block
    assert not any(line.startswith("  - ") for line in lines)


def test_googlenet_against_torchvision_s_shows_the_3x3_for_the_papers_5x5() -> None:
    paper = incept_dsl.load("googlenet.incept", model="googlenet")
    tv = incept_dsl.load("googlenet.incept", model="googlenet_tv")
    text = paper.diff(tv)
    assert (
        "~ inception_3a.branch_3.conv_2 / inception3a.branch3.conv_2.conv: 5×5 Conv, 32  "
        "32×28×28 -> 3×3 Conv, 32  32×28×28  (params 12,832 -> 4,608)"
    ) in text
    pairs = block_pairs(changes(layers(paper.graph), layers(tv.graph)))
    assert pairs["inception_3a"] == "inception3a" and pairs["inception_5b"] == "inception5b"
    assert pairs["aux_head_1"] == "aux1" and pairs["aux_head_2"] == "aux2"  # by branch point
    assert text == paper.diff(tv)  # deterministic


def test_every_layer_is_accounted_for() -> None:
    paper = incept_dsl.load("googlenet.incept", model="googlenet")
    tv = incept_dsl.load("googlenet.incept", model="googlenet_tv")
    xs, ys = layers(paper.graph), layers(tv.graph)
    diff = changes(xs, ys)
    assert sorted(c.a.scope for c in diff if c.a) == sorted(x.scope for x in xs)
    assert sorted(c.b.scope for c in diff if c.b) == sorted(y.scope for y in ys)
