"""The Graphviz backend on the ops of language v2 (LANGUAGE.md section 11): a label and a style for
each, squeeze-and-excitation gating drawn as a gate, the class token and the position embedding
as boxes of their own, attention as one box with its heads, token shapes L×D on the arrows.

Golden DOT files: tests/golden/dot/v2_*.dot (regenerate with `pytest --update-goldens`).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from helpers import VIT_TINY

import incept_dsl
from incept_dsl.backends.figure.dot import FigureOptions, figure, render
from incept_dsl.backends.figure.labels import op_label
from incept_dsl.backends.figure.style import FAMILIES, SHAPES, THEMES
from incept_dsl.ir.ops import OPS

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "dot"
needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz `dot` is not installed"
)

# A small dense-prediction model (LANGUAGE.md section 12's vit_tiny is helpers.VIT_TINY).

UNET = """
model unetish {
    input x: 3x32x32
    output y = x -> conv(8, 3, bn = true, act = relu) -> slice(0, 4)
        -> conv_transpose(6, 2, stride = 2, bn = true, act = hardswish) -> layernorm -> conv(2, 1)
}
"""

SE = """
block se(ratio = 4) = mul {
    identity
    avgpool(global) -> conv(make_divisible(in_channels / ratio), 1, act = relu)
                    -> conv(in_channels, 1, act = hardsigmoid)
}
model senet {
    input x: 3x16x16
    output y = x -> conv(32, 3) -> se -> mul { identity; relu } -> avgpool(global) -> flatten
}
"""

GOLDEN_CASES = {
    "v2_vit_network.dot": (VIT_TINY, {}),
    "v2_vit_encoder_block.dot": (VIT_TINY, {"block": "encoder_layer"}),
    "v2_unet_expand.dot": (UNET, {"expand": True}),
    "v2_se_block.dot": (SE, {"block": "se"}),
}


def _load(program: str):
    return incept_dsl.loads(program, name="v2.incept")


def _nodes(dot: str) -> dict[str, str]:
    """{node id: its attribute text} of the node statements of DOT text."""
    out = {}
    for m in re.finditer(r'^\t+("[^"]+"|\w+) \[(.*)\]$', dot, re.M):
        if m[1] not in ("graph", "node", "edge"):
            out[m[1].strip('"')] = m[2]
    return out


def _edges(dot: str) -> dict[tuple[str, str], str]:
    """{(from, to): the arrow's attribute text}."""
    return {
        (a.strip('"'), b.strip('"')): attrs
        for a, b, attrs in re.findall(
            r'^\t+("[^"]+"|\w+) -> ("[^"]+"|\w+)(?: \[(.*)\])?$', dot, re.M
        )
    }


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_golden(case: str, update_goldens: bool) -> None:
    program, options = GOLDEN_CASES[case]
    text = _load(program).to_dot(**options)
    assert text == _load(program).to_dot(**options)  # deterministic
    path = GOLDEN / case
    if update_goldens:
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{case} changed (--update-goldens)"


# ---- labels and styles --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("op", "attrs", "label"),
    [
        (
            "conv_transpose",
            dict(
                in_channels=8,
                out_channels=64,
                kernel=(2, 2),
                stride=(2, 2),
                padding=(0, 0),
                output_padding=(0, 0),
                groups=1,
                bias=True,
            ),
            "2×2 ConvTranspose, 64 ↑2",
        ),
        (
            "conv_transpose",
            dict(
                in_channels=8,
                out_channels=8,
                kernel=(3, 3),
                stride=(2, 1),
                padding=(1, 1),
                output_padding=(1, 0),
                groups=8,
                bias=False,
            ),
            "3×3 ConvTranspose, 8 ↑2×1 pad 1, output pad 1×0, groups 8",
        ),
        (
            "conv_transpose",
            dict(
                kernel=(1, 3),
                stride=(1, 1),
                padding=(0, 0),
                output_padding=(0, 0),
                groups=1,
                out_channels=4,
            ),
            "1×3 ConvTranspose, 4",
        ),
        ("layernorm", dict(channels=192, eps=1e-6), "LayerNorm"),
        ("tokens", {}, "Tokens"),
        ("class_token", dict(dim=192), "+ Class Token"),
        ("pos_embedding", dict(length=65, dim=192, std=0.02), "+ Position Embedding"),
        (
            "attention",
            dict(dim=192, heads=3, dropout=0.0, bias=True),
            "Multi-Head Attention, 3 heads",
        ),
        ("attention", dict(dim=8, heads=1, dropout=0.0, bias=True), "Multi-Head Attention, 1 head"),
        ("select", dict(index=0), "Select token 0"),
        ("slice", dict(start=0, end=4), "Slice [0:4]"),
        (
            "upsample",
            dict(scale=None, size=(16, 16), mode="bilinear", align_corners=False),
            "Upsample 16×16, bilinear",
        ),
        ("crop", dict(size=(56, 56), offset=(4, 4)), "Crop 56×56"),
        ("crop", dict(size=(3, 30), offset=(18, 3)), "Crop 3×30"),
    ],
)
def test_v2_op_labels(op: str, attrs: dict, label: str) -> None:
    assert op_label(op, attrs) == label


def test_every_family_of_the_op_table_has_a_colour_and_a_shape_in_every_theme() -> None:
    families = {op.family for op in OPS.values()} | {"block"}
    assert families <= set(FAMILIES) == set(SHAPES)
    for theme in THEMES.values():
        assert set(theme.fill) == set(theme.border) == set(FAMILIES), theme.name
    default = THEMES["default"].fill
    # the new families are told apart from the families that share their hue
    assert len({default[f] for f in ("token", "act", "attention", "block", "conv")}) == 5
    assert SHAPES["token"] != SHAPES["act"] and SHAPES["token"] != SHAPES["reshape"]
    gray = THEMES["grayscale"].fill
    assert all(c[1:3] == c[3:5] == c[5:7] for c in gray.values())


# ---- the worked ViT -----------------------------------------------------------------------------
def test_vit_network_view_shows_the_class_token_position_embedding_and_token_shapes() -> None:
    nodes = _nodes(_load(VIT_TINY).to_dot())
    fill = THEMES["default"].fill
    assert "4×4 Conv, 192 /4 V<" in nodes["conv_1"]
    assert "Tokens<BR/>" in nodes["tokens_1"] and "64×192" in nodes["tokens_1"]
    for key, label in [("class_token_1", "+ Class Token"), ("pos_embedding_1", "+ Position")]:
        assert label in nodes[key] and "65×192" in nodes[key]
        assert f'fillcolor="{fill["token"]}"' in nodes[key] and "shape=note" in nodes[key]
    assert "encoder_layer ×4" in nodes["repeat_1"] and "65×192" in nodes["repeat_1"]
    assert "Select token 0" in nodes["select_1"] and ">192<" in nodes["select_1"]
    assert "FC, 10" in nodes["linear_1"]
    assert not [k for k in nodes if "dropout" in k]  # dropout(0.0) is an identity: left out


def test_attention_is_one_box_with_its_heads_and_tokens_are_on_the_arrows() -> None:
    dot = _load(VIT_TINY).to_dot(block="encoder_layer")
    nodes, edges = _nodes(dot), _edges(dot)
    scope = "repeat_1.0.encoder_layer_1"
    attention = [k for k, v in nodes.items() if "Attention" in v]
    assert attention == [f"{scope}.attention_1"]
    box = nodes[attention[0]]
    assert 'label="Multi-Head Attention, 3 heads"' in box
    assert f'fillcolor="{THEMES["default"].fill["attention"]}"' in box
    assert "FC, 768, GELU" in nodes[f"{scope}.linear_1"]  # the activation in its layer's box
    assert 'label=" 65×192"' in edges[(f"{scope}.layernorm_1", f"{scope}.attention_1")]
    assert 'label=" 65×768"' in edges[(f"{scope}.linear_1", f"{scope}.linear_2")]
    assert sum('label="+"' in v for v in nodes.values()) == 2  # the two residual sums


def test_a_transposed_conv_is_one_box_with_its_batch_norm_and_activation() -> None:
    m = _load(UNET)
    dot = m.to_dot(expand=True)
    box = _nodes(dot)["conv_transpose_1"]
    assert 'label="2×2 ConvTranspose, 6 ↑2, Hardswish"' in box
    assert "conv_transpose → batchnorm → hardswish" in box  # the tooltip lists the IR ops
    assert f'fillcolor="{THEMES["default"].fill["conv"]}"' in box
    assert 'label=" 6×64×64"' in _edges(dot)[("conv_transpose_1", "layernorm_1")]
    fig = figure(m.graph, FigureOptions(expand=True))
    assert len([it for it in fig.items.values() if it.kind == "unit"]) == 5


# ---- squeeze-and-excitation gating --------------------------------------------------------------
def test_se_gate_meets_the_main_path_at_a_product_as_a_bold_gate_arrow() -> None:
    dot = _load(SE).to_dot(block="se")
    edges = _edges(dot)
    theme = THEMES["default"]
    gate = edges[("se_1.branch_2.conv_2", "se_1.mul_1")]
    assert 'label=" gate 32×1×1"' in gate and "penwidth=1.8" in gate
    assert f'color="{theme.border["act"]}"' in gate
    main = edges[("input@1", "se_1.mul_1")]  # the identity branch: the path the gate scales
    assert "gate" not in main and "penwidth" not in main
    assert "shape=circle" in _nodes(dot)["se_1.mul_1"]
    no_shapes = _edges(_load(SE).to_dot(block="se", shapes=False, theme="grayscale"))
    gray = no_shapes[("se_1.branch_2.conv_2", "se_1.mul_1")]
    assert 'label=" gate"' in gray and 'color="#000000"' in gray and "penwidth=1.8" in gray


def test_a_product_of_equal_shapes_has_no_gate() -> None:
    dot = _load(SE).to_dot(expand=True)
    gates = [pair for pair, attrs in _edges(dot).items() if "gate" in attrs]
    assert gates == [("se_1.branch_2.conv_2", "se_1.mul_1")]  # not the mul { identity; relu }


# ---- every view of every v2 op ------------------------------------------------------------------
EVERY = """
block se(ratio = 4) = mul {
    identity
    gate: avgpool(global) -> conv(make_divisible(in_channels / ratio), 1, act = relu)
        -> conv(in_channels, 1, act = hardsigmoid)
}
block encoder(heads) = residual { layernorm -> attention(heads, dropout = 0.1) -> stochastic_depth(0.1) }
    -> residual { layernorm -> linear(in_channels * 2, act = gelu) -> linear(in_channels) -> layer_scale }

model every(classes = 10) {
    input image: 3x16x16
    x = image -> conv(16, 3, bn = true, act = relu) -> se -> groupnorm(4) -> channel_shuffle(2)
    up = x -> slice(0, 8) -> conv_transpose(8, 3, stride = 2, padding = 1, output_padding = 1)
        -> upsample(size = 16x16, mode = bilinear) -> layernorm -> leaky_relu(slope = 0.2)
    output logits = mul(x, x) -> conv(32, 4, stride = 4, padding = valid) -> tokens -> class_token
        -> pos_embedding -> repeat(2) { encoder(4) } -> layernorm -> select(0) -> linear(classes)
    output seg = up -> conv(2, 1) -> hardswish
}
"""


def test_every_v2_op_is_drawn_in_every_view_with_its_family_style() -> None:
    m = _load(EVERY)
    drawn = {m.graph.op(n) for n in m.graph.nx.nodes}
    v2 = {"conv_transpose", "layernorm", "tokens", "class_token", "pos_embedding", "attention"}
    v2 |= {"select", "slice", "upsample", "groupnorm", "layer_scale", "stochastic_depth", "mul"}
    assert v2 <= drawn
    for options in ({}, {"expand": True}, {"depth": 2}, {"block": "se"}, {"block": "encoder"}):
        for theme in THEMES:
            dot = m.to_dot(theme=theme, **options)
            assert dot == m.to_dot(theme=theme, **options)
    nodes = _nodes(m.to_dot(expand=True))
    assert "Upsample 16×16, bilinear" in nodes["upsample_1"]
    assert "3×3 ConvTranspose, 8 ↑2 pad 1, output pad 1" in nodes["conv_transpose_1"]
    scale = next(v for k, v in nodes.items() if k.endswith("layer_scale_1"))
    assert "LayerScale 1e-6" in scale  # not Python's 1e-06
    for key, family in [("attention_1", "attention"), ("class_token_1", "token")]:
        box = next(v for k, v in nodes.items() if k.endswith(key))
        assert f'fillcolor="{THEMES["default"].fill[family]}"' in box


@needs_dot
def test_v2_figures_render_byte_identical_svg() -> None:
    for program, options in GOLDEN_CASES.values():
        a = render(_load(program).to_dot(**options), "svg")
        assert a == render(_load(program).to_dot(**options), "svg")
        assert b"Traceback" not in a and a.startswith(b"<?xml")
