"""`crop(size)`, U-Net's "copy and crop" (an extension beyond LANGUAGE.md, docs/language.md): the
centred h×w window of an N×C×H×W image, top (H - h) // 2 and left (W - w) // 2. Checked against
a slicing written here, for even and odd margins and non-square windows; the op table, shape rule,
MACs and located errors; the generated code; -O1/-O2 against -O0, onnxruntime against PyTorch,
the figure label and the formatter's round trip."""

from __future__ import annotations

import re

import pytest
import torch
from onnx import numpy_helper

import incept_dsl
from incept_dsl.ir.ops import OPS, infer_shape, macs, param_count
from incept_dsl.ir.shapes import ShapeProblem, crop_offset
from tests.ir.v2_support import error_of, levels_agree, onnx_agrees, round_trips, x_


def _crop_of(body: str, shape: str) -> incept_dsl.Model:
    return incept_dsl.loads(
        f"model m {{\n    input x: {shape}\n    output y = x -> {body}\n}}\n", name="t.incept"
    )


# ---- the op table and the shape rule -------------------------------------------------------------
def test_crop_op_table_shape_rule_and_cost() -> None:
    op = OPS["crop"]
    assert (op.attrs, op.family, op.view, op.arity) == (("size", "offset"), "reshape", True, 1)
    assert not op.weighted and op.cost.formula == "0 (a view)" and op.title == "Crop"
    a = {"size": (32, 30), "offset": (4, 5)}
    assert param_count("crop", a) == (0, 0)
    assert infer_shape("crop", a, [(8, 40, 40)]) == (8, 32, 30)
    assert macs("crop", a, [(8, 40, 40)], (8, 32, 30)) == 0
    same = {"size": (40, 40), "offset": (0, 0)}
    assert infer_shape("crop", same, [(8, 40, 40)]) == (8, 40, 40)  # the identity


@pytest.mark.parametrize(
    ("image", "size", "offset"),
    [
        ((3, 40, 40), (32, 32), (4, 4)),  # even margins: equal on both sides
        ((3, 9, 10), (4, 7), (2, 1)),  # odd margins: the extra row / column at the bottom / right
        ((3, 7, 7), (4, 4), (1, 1)),  # 3 // 2: torchvision's CenterCrop starts at round(1.5) = 2
        ((3, 5, 6), (5, 6), (0, 0)),
    ],
)
def test_the_crop_offset_is_the_floor_of_half_the_margin(image, size, offset) -> None:
    assert crop_offset(image, size) == offset


def test_the_crop_shape_rule_refuses_non_images_large_windows_and_off_centre_offsets() -> None:
    a = {"size": (4, 4), "offset": (0, 0)}
    for shape, kind in [((12,), "flat tensor 12"), ((5, 12), "token tensor 5×12")]:
        with pytest.raises(ShapeProblem, match=f"crop needs an image tensor C×H×W; got the {kind}"):
            infer_shape("crop", a, [shape])
    with pytest.raises(ShapeProblem, match=r"crop\(size = 4x4\) is larger than the 3×8 input"):
        infer_shape("crop", a, [(2, 3, 8)])
    with pytest.raises(ShapeProblem, match="not the centre of the 8×8 input"):
        infer_shape("crop", {"size": (4, 4), "offset": (1, 2)}, [(2, 8, 8)])


# ---- against a slicing written here --------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "want"),
    [
        ("32", lambda x: x[:, :, 4:36, 2:34]),  # 40×36: margins 8 and 4
        ("size = 5x6", lambda x: x[:, :, 17:22, 15:21]),  # margins 35 and 30
        ("3x30", lambda x: x[:, :, 18:21, 3:33]),  # margins 37 (odd) and 6
        ("39x35", lambda x: x[:, :, 0:39, 0:35]),  # margins 1 and 1: the last row and column go
        ("40x36", lambda x: x),
    ],
)
def test_crop_is_the_centred_slice(args: str, want) -> None:
    m = _crop_of(f"crop({args})", "3x40x36")
    x = x_(2, 3, 40, 36)
    with torch.no_grad():
        got = m.to_torch()(x)
    assert got.shape[1:] == m.outputs["y"] and torch.equal(got, want(x))


def test_crop_is_written_as_a_plain_slice_with_integer_literals() -> None:
    m = _crop_of("conv(4, 3, padding = valid) -> crop(5x2) -> relu", "3x11x8")  # 9×6: margins 4, 4
    for level in (0, 1, 2):
        lines = [ln for ln in m.torch_source(opt_level=level).splitlines() if "[:, :, " in ln]
        assert len(lines) == 1 and re.search(r"= \w+\[:, :, 2:7, 2:4\]  # 4×5×2$", lines[0])


# ---- located errors ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "column", "message", "hint"),
    [
        ("crop(7)", 21, "crop(size = 7x7) is larger than the 6×6 input", "at most 6x6 here"),
        ("crop(size = 6x7)", 21, "crop(size = 6x7) is larger than the 6×6 input", "at most 6x6"),
        ("crop(7x6)", 21, "crop(size = 7x6) is larger than the 6×6 input", "crop less"),
        (
            "flatten -> crop(2)",
            32,
            "crop needs an image tensor C×H×W; got the flat tensor 288",
            None,
        ),
        ("tokens -> crop(2)", 31, "needs an image tensor C×H×W; got the token tensor 36×8", None),
        ("crop", 21, "'crop' needs its argument 'size'", None),
        ("crop(0)", 26, "crop's 'size' must be at least 1", None),
    ],
)
def test_crop_mistakes_are_located(body: str, column: int, message: str, hint: str | None) -> None:
    err = error_of(body)
    assert (err.line, err.column) == (3, column) and message in err.message, err.message
    if "image tensor" in message:
        assert err.hint is not None and "crop before flatten or tokens" in err.hint
    if hint is not None:
        assert err.hint is not None and hint in err.hint, err.hint


# ---- a U-Net: levels, ONNX, figures, costs, the formatter ----------------------------------------
TINY_UNET = """
model tiny_unet {
    input image: 1x44x44
    defaults conv(act = relu, padding = valid)
    e1 = image -> conv(8, 3) -> conv(8, 3)
    b = e1 -> maxpool(2) -> conv(16, 3) -> conv(16, 3)
    u = b -> conv_transpose(8, 2, stride = 2)
    s = e1 -> crop(32)
    t = e1 -> crop(31x29) -> upsample(size = 32x32)
    output logits = concat(s, u, t) -> conv(8, 3) -> conv(2, 1, act = none)
}
"""


def test_crop_in_a_unet_levels_onnx_figures_and_costs() -> None:
    m = incept_dsl.loads(TINY_UNET)
    assert m.outputs["logits"] == (2, 30, 30)
    x = x_(2, 1, 44, 44)
    net = levels_agree(m, x)
    assert m.param_count() == sum(p.numel() for p in net.parameters())
    protos = onnx_agrees(m, x, opsets=(11, 13, 18, 20))
    for proto in protos:  # one Slice each, its bounds constant initializers
        crops = {
            n.name: (n.op_type, list(n.input[1:])) for n in proto.graph.node if "crop" in n.name
        }
        assert crops == {
            f"crop_{k}": ("Slice", [f"crop_{k}.starts", f"crop_{k}.ends", f"crop_{k}.axes"])
            for k in (1, 2)
        }
    inits = {t.name: numpy_helper.to_array(t).tolist() for t in protos[0].graph.initializer}
    assert [inits[f"crop_2.{k}"] for k in ("starts", "ends", "axes")] == [[4, 5], [35, 34], [2, 3]]
    round_trips(TINY_UNET)
    dot = m.to_dot()
    assert "Crop 32×32" in dot and "Crop 31×29" in dot
    rows = {r.name: r for r in m.summary().layers}
    assert rows["crop_1"].macs == 0 and rows["crop_1"].output_shape == (8, 32, 32)
    assert rows["crop_2"].macs == 0 and rows["crop_2"].view


def test_torchvision_s_name_suggests_crop() -> None:
    err = error_of("CenterCrop(4)")
    assert err.message == "unknown op or block 'CenterCrop'"
    assert err.hint == "did you mean 'crop'? (the language calls CenterCrop 'crop')"
