"""LANGUAGE.md section 7, the worked fragment: its inception block and block35 compile as written."""

from __future__ import annotations

from helpers import model, shapes

FRAGMENT = """
model googlenet(classes = 1000) {
    input image: 3x224x224
    defaults conv(act = relu)

    block inception(c1, c3r, c3, c5r, c5, pp) = concat {
        conv(c1, 1)
        conv(c3r, 1) -> conv(c3, 3)
        conv(c5r, 1) -> conv(c5, 5)
        maxpool(3, stride = 1) -> conv(pp, 1)
    }
    i3 = image -> conv(480, 1, stride = 8)
    i4a = i3 -> maxpool(3, stride = 2) -> inception(192, 96, 208, 16, 48, 64) as inception_4a
    aux aux1 = i4a -> avgpool(5, stride = 3, padding = valid) -> conv(128, 1) -> flatten
                   -> linear(1024, act = relu) -> dropout(0.7) -> linear(classes)  weight 0.3
    output logits = i4a -> avgpool(global) -> flatten -> linear(classes)
}

block block35(scale = 0.17) = residual(scale = scale) {
    concat {
        conv(32, 1)
        conv(32, 1) -> conv(32, 3)
        conv(32, 1) -> conv(48, 3) -> conv(64, 3)
    } -> conv(320, 1, bn = false, bias = true, act = none)
} -> relu

model irv2_a {
    input x: 320x35x35
    defaults conv(bn = true, act = relu, bias = false)
    defaults batchnorm(eps = 1e-3)
    output y = x -> repeat(10) { block35 } -> block35(scale = 1.0) -> expect(320x35x35)
}
"""


def test_googlenet_fragment():
    m = model(FRAGMENT, model="googlenet")
    s = shapes(m)
    assert s["inception_4a.concat_1"] == (512, 14, 14)
    assert m.aux == {"aux1": ((1000,), 0.3)}
    assert s["conv_2"] == (128, 4, 4)  # the aux head's 1x1 conv


def test_block35_fragment():
    m = model(FRAGMENT, model="irv2_a")
    g = m.graph
    s = shapes(m)
    assert s["repeat_1.9.block35_1.conv_1"] == (320, 35, 35)
    assert g.attrs(g.by_scope("repeat_1.0.block35_1.conv_1"))["bias"] is True
    assert "repeat_1.0.block35_1.conv_1.bn" not in s
    assert g.attrs(g.by_scope("repeat_1.0.block35_1.scale_1"))["s"] == 0.17
    assert "block35_1.scale_1" not in s  # scale = 1.0 adds no multiply
    assert m.outputs == {"y": (320, 35, 35)}
