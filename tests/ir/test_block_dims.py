"""`in_channels`, `in_height` and `in_width` inside a block body (LANGUAGE.md section 8): the
dimensions of the tensor each application of the block is applied to, compared with the modules
PyTorch builds by hand; the errors outside a block body and on a flat input; shadowing; and the
check without shapes, which treats them as unknown values."""

from __future__ import annotations

import pytest
from helpers import model, shapes

from incept_dsl.errors import InceptError, InceptErrors
from incept_dsl.ir import values as V

DW = "block dw(k = 3, stride = 1) = conv(in_channels, k, stride = stride, groups = in_channels)\n"


def _errors(text: str) -> list[InceptError]:
    with pytest.raises(InceptError) as info:
        model(text)
    err = info.value
    return list(err.errors) if isinstance(err, InceptErrors) else [err]


def _text(span) -> str:
    return span.source.text[span.start : span.end]


def _convs(m) -> dict[str, dict]:
    g = m.graph
    return {g.scope(n): g.attrs(n) for n in g.order() if g.op(n) == "conv"}


def test_depthwise_conv_matches_a_hand_built_conv2d() -> None:
    torch = pytest.importorskip("torch")
    m = model(DW + "model m {\n input x: 16x12x12\n output y = x -> dw(5, stride = 2)\n}\n")
    net = m.to_torch().eval()
    (conv,) = [c for c in net.modules() if isinstance(c, torch.nn.Conv2d)]
    assert (conv.in_channels, conv.out_channels, conv.groups) == (16, 16, 16)
    ref = torch.nn.Conv2d(16, 16, 5, stride=2, padding=2, groups=16)
    with torch.no_grad():
        ref.weight.copy_(conv.weight)
        ref.bias.copy_(conv.bias)
    x = torch.randn(2, 16, 12, 12)
    torch.testing.assert_close(net(x), ref(x))


def test_each_application_sees_its_own_input() -> None:
    text = (
        DW
        + """model m {
    input x: 3x16x16
    y = x -> conv(8, 1) -> dw -> conv(24, 1) -> dw as second
    output z = y -> concat { dw; conv(4, 1) -> dw } -> repeat(2) { dw }
}
"""
    )
    convs = _convs(model(text))
    groups = {scope: a["groups"] for scope, a in convs.items() if a["groups"] > 1}
    assert groups == {
        "dw_1.conv_1": 8,
        "second.conv_1": 24,
        "branch_1.dw_1.conv_1": 24,  # a branch's input is the concat's input
        "branch_2.dw_1.conv_1": 4,  # ... after that branch's own ops
        "repeat_1.0.dw_1.conv_1": 28,
        "repeat_1.1.dw_1.conv_1": 28,
    }
    assert all(a["in_channels"] == a["out_channels"] for s, a in convs.items() if s in groups)


def test_height_and_width_of_an_image() -> None:
    text = """block whole = conv(in_channels * 2, (in_height, in_width), padding = valid)
        -> expect((in_channels * 2, 1, 1))
model m {
    input x: 5x7x9
    output y = x -> whole -> flatten
}
"""
    m = model(text)
    conv = next(iter(_convs(m).values()))
    assert conv["kernel"] == (7, 9) and conv["out_channels"] == 10
    assert m.outputs == {"y": (10,)}


def test_a_flat_input_has_channels_but_no_height() -> None:
    text = """block same_width(extra = 0) = linear(in_channels + extra)
model m {
    input x: 3x4x4
    output y = x -> flatten -> same_width -> same_width(extra = 2)
}
"""
    assert model(text).outputs == {"y": (50,)}
    (err,) = _errors(text.replace("in_channels + extra", "in_height"))
    assert err.message.startswith("'in_height' is not defined here: block 'same_width'")
    assert "flat tensor 48" in err.message and "no height" in err.message
    assert err.span.line == 1 and _text(err.span) == "in_height"


def test_token_tensors_give_their_last_dimension() -> None:
    dims = V.input_dims((197, 192), "encoder")
    assert dims["in_channels"] == 192
    assert isinstance(dims["in_height"], V.Absent) and "token tensor" in dims["in_height"].reason


@pytest.mark.parametrize(
    "where",
    [
        "model m(c = in_channels) {\n input x: 3x8x8\n output y = x -> conv(c, 1)\n}\n",
        "model m {\n input x: 3x8x8\n defaults conv(groups = in_channels)\n"
        " output y = x -> conv(3, 1)\n}\n",
        "model m {\n input x: 3x8x8\n output y = x -> conv(in_width, 1)\n}\n",
    ],
    ids=["model-parameter", "defaults", "model-pipeline"],
)
def test_outside_a_block_body_is_a_located_error(where: str) -> None:
    (err,) = _errors(where)
    assert err.message.endswith("is defined only inside a block body")
    assert _text(err.span) in V.INPUT_DIMS
    assert err.hint is not None and "only inside a block body" in err.hint
    rendered = err.render()
    assert "^^^^" in rendered and ":" in rendered.splitlines()[0]


def test_parameters_shadow_them() -> None:
    text = """block fixed(in_channels = 6) = conv(in_channels, 1)
model m(in_height = 5) {
    block local = conv(in_height, 1)
    input x: 3x8x8
    output y = x -> fixed -> local
}
"""
    # a block parameter shadows them; so does a parameter of the model around a local block (a
    # v1 program that used such a name keeps its meaning)
    assert [a["out_channels"] for a in _convs(model(text)).values()] == [6, 5]


def test_a_default_may_read_them_but_not_a_later_shadowing_parameter() -> None:
    text = """block squeeze(c = in_channels // 4) = conv(c, 1)
model m {
    input x: 32x8x8
    output y = x -> squeeze
}
"""
    assert model(text).outputs == {"y": (8, 8, 8)}
    (err,) = _errors(text.replace("c = in_channels // 4", "c = in_channels, in_channels = 2"))
    assert "shadows the input dimension" in err.message and _text(err.span) == "in_channels"


def test_nested_blocks_and_repeat_counts() -> None:
    text = """block widen(m = 1) = conv(in_channels * m, 1)
block outer = widen(m = in_channels // 8) -> repeat(in_channels // 8) { widen }
model m {
    input x: 16x4x4
    output y = x -> outer
}
"""
    m = model(text)
    # the call's argument reads outer's input (16 -> m = 2); widen's body reads its own input
    assert m.outputs == {"y": (32, 4, 4)}
    assert [s for s in shapes(m) if s.endswith("widen_1.conv_1")] == [
        "outer_1.widen_1.conv_1",
        "outer_1.repeat_1.0.widen_1.conv_1",
        "outer_1.repeat_1.1.widen_1.conv_1",
    ]


def test_a_block_or_op_named_like_them_is_still_applied() -> None:
    text = """block in_channels = relu
block b = conv(in_channels + 1, 1) -> in_channels
model m {
    input x: 3x8x8
    output y = x -> b
}
"""
    m = model(text)
    assert m.outputs == {"y": (4, 8, 8)}
    assert "b_1.in_channels_1.relu_1" in shapes(m)


def test_unapplied_blocks_treat_them_as_unknown() -> None:
    text = """block unused(r = 4) = conv(make_divisible(in_channels / r), 1, act = rleu)
    -> expect((in_channels, in_height, in_width))
model m {
    input x: 3x8x8
    output y = x -> conv(4, 1)
}
"""
    (err,) = _errors(text)
    assert "rleu" in err.message  # the real mistake, and none about the dimensions
    assert "checked without its arguments" in err.notes[-1].message
    assert model(text.replace("rleu", "relu")).outputs == {"y": (4, 8, 8)}


def test_after_a_failed_element_the_rest_still_reads_them() -> None:
    text = (
        DW
        + """block b = conv(in_channels, 0) -> conv(in_channels // 2, 1, act = rleu) -> dw
model m {
    input x: 8x8x8
    output y = x -> b
}
"""
    )
    errs = _errors(text)
    assert [e.span.line for e in errs] == [2, 2]
    assert "at least 1" in errs[0].message and "rleu" in errs[1].message


def test_v1_programs_without_them_are_unchanged() -> None:
    text = """block pair(c) = conv(c, 1) -> conv(c, 3)
model m(in_channels = 4) {
    input x: 3x8x8
    output y = x -> pair(in_channels) -> conv(in_channels, 1)
}
"""
    m = model(text)
    assert [a["out_channels"] for a in _convs(m).values()] == [4, 4, 4]
    assert list(shapes(m)) == ["x", "pair_1.conv_1", "pair_1.conv_2", "conv_1"]


def test_fmt_and_the_lexer_know_them() -> None:
    from pygments.token import Name

    from incept_dsl.fmt import ast_equal, format_text
    from incept_dsl.frontend.parser import parse
    from incept_dsl.pygments_lexer import InceptLexer

    text = (
        "block se(ratio=4)=add{identity;avgpool(global)->conv(make_divisible(in_channels/ratio,"
        "8),1,act=relu)->conv(in_channels,1)}\n" + DW
    )
    formatted = format_text(text)
    assert ast_equal(parse(formatted), parse(text)) and format_text(formatted) == formatted
    assert "make_divisible(in_channels / ratio, 8)" in formatted
    kinds = {v: t for t, v in InceptLexer().get_tokens(formatted) if v.strip()}
    assert kinds["make_divisible"] in Name.Function
    assert kinds["in_channels"] in Name.Builtin.Pseudo
