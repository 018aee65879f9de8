"""Blocks bound to parameters (LANGUAGE.md section 10): with `block ir(..., attn = identity) = ...
-> attn -> ...`, `ir(..., attn = se)` inserts the block `se` with its defaults.

Checked against the same program with `se` written directly in that place: the same IR (ops,
scopes, attributes, shapes), the same `state_dict` keys, the same outputs on the same weights.
Also: the name is resolved where it is written (an imported block applies the caller's `se`, not
one of its own file), a default may be a block name, a bound block counts as applied, and the
mistakes (a required parameter, a name that is no op or block, recursion) are located errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import model, shapes

import incept_dsl
from incept_dsl.errors import InceptError, InceptErrors
from incept_dsl.fmt import ast_equal, format_text
from incept_dsl.frontend.loader import Loader
from incept_dsl.frontend.parser import parse
from incept_dsl.ir.elaborate_model import Elaborator

SE = """
block se(ratio = 4) = mul {
    identity
    avgpool(global) -> conv(make_divisible(in_channels / ratio), 1, act = relu)
                    -> conv(in_channels, 1, act = hardsigmoid)
}
"""

#: An inverted residual (MobileNetV3-style) whose attention is a parameter, default identity.
IR = """
block ir(c, expand = 4, stride = 1, attn = identity) =
    conv(in_channels * expand, 1, bn = true, act = relu6)
    -> conv(in_channels * expand, 3, stride = stride, groups = in_channels * expand,
            bn = true, act = relu6)
    -> attn
    -> conv(c, 1, bn = true)
"""

BOUND = (
    SE
    + IR
    + """
model net {
    input image: 3x32x32
    x = image -> conv(16, 3, stride = 2, bn = true, act = relu6)
    output y = x -> ir(24, stride = 2, attn = se) -> residual { ir(24, attn = se) }
        -> avgpool(global) -> flatten -> linear(10)
}
"""
)

#: The same network with `se` written in the block's body.
DIRECT = (
    SE
    + IR.replace("attn = identity", "attn = none").replace("-> attn", "-> se")
    + """
model net {
    input image: 3x32x32
    x = image -> conv(16, 3, stride = 2, bn = true, act = relu6)
    output y = x -> ir(24, stride = 2) -> residual { ir(24) }
        -> avgpool(global) -> flatten -> linear(10)
}
"""
)


def _errors(text: str, **kw) -> list[InceptError]:
    with pytest.raises(InceptError) as info:
        model(text, **kw)
    err = info.value
    return list(err.errors) if isinstance(err, InceptErrors) else [err]


def _text(span) -> str:
    return span.source.text[span.start : span.end]


def _ir(m: incept_dsl.Model) -> list[tuple]:
    g = m.graph
    return [(g.scope(n), g.op(n), g.attrs(n), g.shape(n)) for n in g.order()]


def _same_network(a: incept_dsl.Model, b: incept_dsl.Model, x_shape: tuple[int, ...]) -> None:
    """`a` and `b` are one network: the same IR, state_dict keys, and outputs on one weights."""
    torch = pytest.importorskip("torch")
    assert _ir(a) == _ir(b)
    torch.manual_seed(0)
    net_a = a.to_torch().eval()
    net_b = b.to_torch().eval()
    assert list(net_a.state_dict()) == list(net_b.state_dict())
    net_b.load_state_dict(net_a.state_dict())
    x = torch.randn(2, *x_shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(net_a(x), net_b(x), rtol=0, atol=0)


# ---- what a bound block builds ------------------------------------------------------------------
def test_a_bound_block_is_the_block_written_in_its_place() -> None:
    bound, direct = model(BOUND), model(DIRECT)
    assert bound.outputs == {"y": (10,)}
    s = shapes(bound)
    assert s["ir_1.se_1.branch_2.avgpool_1"] == (64, 1, 1)
    assert s["ir_1.se_1.branch_2.conv_1"] == (16, 1, 1)  # make_divisible(64 / 4)
    assert s["ir_1.se_1.mul_1"] == (64, 8, 8)
    assert s["ir_2.se_1.mul_1"] == (96, 8, 8)
    _same_network(bound, direct, (3, 32, 32))


def test_the_state_dict_keys_name_the_bound_block_in_the_callers_scope() -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    keys = list(model(BOUND).to_torch().state_dict())
    assert "ir_1.se_1.branch_2.conv_1.weight" in keys
    assert "ir_2.se_1.branch_2.conv_2.bias" in keys
    assert not any(k.startswith("se_") or ".attn" in k for k in keys)


def test_the_default_identity_adds_nothing() -> None:
    text = SE + IR + "model m {\n input x: 16x8x8\n output y = x -> ir(16)\n}\n"
    plain = IR.replace("-> attn\n", "")
    _same_network(
        model(text),
        model(SE + plain + "model m {\n input x: 16x8x8\n output y = x -> ir(16)\n}\n"),
        (16, 8, 8),
    )
    assert not any(".se_" in scope for scope in shapes(model(text)))


def test_a_default_may_be_a_block_name() -> None:
    net = BOUND[BOUND.index("model") :].replace(", attn = se)", ")")
    text = SE + IR.replace("attn = identity", "attn = se") + net
    _same_network(model(text), model(DIRECT), (3, 32, 32))


def test_an_op_name_still_applies_the_op() -> None:
    text = SE + IR + "model m {\n input x: 16x8x8\n output y = x -> ir(16, attn = relu)\n}\n"
    ops = {scope: op for scope, op, _, _ in _ir(model(text))}
    assert ops["ir_1.relu_1"] == "relu"


def test_a_bound_block_takes_the_elements_arguments_and_name() -> None:
    body = "block b(attn = identity) = conv(64, 1) -> attn(ratio = 8) as gate -> relu\n"
    m = model(SE + body + "model m {\n input x: 16x8x8\n output y = x -> b(attn = se)\n}\n")
    assert shapes(m)["b_1.gate.branch_2.conv_1"] == (8, 1, 1)  # make_divisible(64 / 8)


def test_a_binding_passes_through_several_blocks() -> None:
    outer = "block outer(a = identity) = ir(24, attn = a) -> repeat(2) { ir(24, attn = a) }\n"
    text = SE + IR + outer + "model m {\n input x: 16x8x8\n output y = x -> outer(a = se)\n}\n"
    s = shapes(model(text))
    assert {k for k in s if k.endswith("se_1.mul_1")} == {
        "outer_1.ir_1.se_1.mul_1",
        "outer_1.repeat_1.0.ir_1.se_1.mul_1",
        "outer_1.repeat_1.1.ir_1.se_1.mul_1",
    }


def test_a_model_parameter_may_name_a_block_also_from_params() -> None:
    text = (
        SE
        + IR
        + (
            "model m(attn = identity) {\n input x: 16x8x8\n"
            " output y = x -> ir(16, attn = attn) -> attn\n}\n"
        )
    )
    assert not any("se_" in k for k in shapes(model(text)))
    s = shapes(model(text, params={"attn": "se"}))
    assert "ir_1.se_1.mul_1" in s and "se_1.mul_1" in s


def test_the_name_is_resolved_where_it_is_written(tmp_path: Path) -> None:
    # the library has a block `se` of its own; the caller's (model-local) `se` is the one applied
    (tmp_path / "lib.incept").write_text(IR + "block se(ratio = 2) = relu\n", encoding="utf-8")
    local = SE.replace("\n", "\n    ")
    text = (
        'import "lib.incept"\n'
        f"model m {{\n    input x: 16x8x8\n    {local}\n"
        "    output y = x -> ir(16, attn = se)\n}\n"
    )
    s = shapes(incept_dsl.loads(text, base_dir=tmp_path))
    assert s["ir_1.se_1.branch_2.conv_1"] == (16, 1, 1)
    assert s["ir_1.se_1.mul_1"] == (64, 8, 8)


def test_a_block_used_only_through_a_binding_counts_as_applied() -> None:
    # a mistake found only with shapes: reported from the application, not as an unapplied block
    text = (
        "block head(k = 4) = linear(k)\n"
        + IR
        + "model m {\n input x: 16x8x8\n output y = x -> ir(16, attn = head)\n}\n"
    )
    (err,) = _errors(text)
    assert _text(err.span) == "linear(k)"
    notes = [n.message for n in err.notes]
    assert "in block 'head' applied here" in notes
    assert not any("checked without its arguments" in n for n in notes)
    assert any(n.span is not None and _text(n.span) == "attn" for n in err.notes)


def test_blocks_of_one_name_in_two_scopes_are_told_apart(tmp_path: Path) -> None:
    # `se2` of the library needs an argument, the model's does not: one error, from the library's;
    # `ir` is applied with the same arguments at the same depth twice, and a failure remembered
    # for the library's `se2` must not be taken for the model's (which builds its nodes)
    lib = IR + "block se2(ratio) = relu\nblock wrap = ir(16, attn = se2)\n"
    (tmp_path / "lib.incept").write_text(lib, encoding="utf-8")
    text = (
        'import "lib.incept"\nmodel m {\n input x: 16x8x8\n block se2(ratio = 2) = relu\n'
        " block mine = ir(16, attn = se2)\n a = x -> wrap\n output y = x -> mine\n}\n"
    )
    unit = Loader().load_text(text, "two.incept", tmp_path)
    elaborator = Elaborator(unit, unit.program.models[0], None, None)
    with pytest.raises(InceptError) as info:
        elaborator.build()
    err = info.value
    assert not isinstance(err, InceptErrors)
    assert err.span.file.endswith("lib.incept") and _text(err.span) == "se2"
    g = elaborator.g
    assert "mine_1.ir_1.se2_1.relu_1" in {g.scope(n) for n in g.order()}


def test_fmt_round_trips_a_program_that_binds_blocks() -> None:
    out = format_text(BOUND, "b.incept")
    assert format_text(out, "b.incept") == out
    assert ast_equal(parse(BOUND, "b.incept"), parse(out, "b.incept"))
    assert "attn = se" in out
    assert _ir(model(out)) == _ir(model(BOUND))


# ---- mistakes -----------------------------------------------------------------------------------
NEEDS = "block se2(ratio, k = 1) = conv(in_channels // ratio, k)\n"
SMALL = "block b(attn = identity) = conv(8, 1) -> attn -> relu\n"


def test_a_bound_block_with_a_required_parameter_is_an_error_at_the_binding() -> None:
    (err,) = _errors(
        NEEDS + SMALL + "model m {\n input x: 8x4x4\n output y = x -> b(attn = se2)\n}\n"
    )
    assert err.message == (
        "block 'se2' is bound to the parameter 'attn', which applies it with its defaults, but "
        "its parameter 'ratio' has no default"
    )
    assert (err.line, _text(err.span)) == (5, "se2")
    assert [(n.message, _text(n.span)) for n in err.notes] == [
        ("'attn' is applied here", "attn"),
        ("'se2' is defined here", "se2"),
        ("in block 'b' applied here", "b(attn = se2)"),
    ]
    assert err.hint is not None and "se2(ratio = ...)" in err.hint


def test_a_required_parameter_left_by_the_elements_arguments() -> None:
    body = "block b(attn = identity) = conv(8, 1) -> attn(k = 3) -> relu\n"
    (err,) = _errors(
        NEEDS + body + "model m {\n input x: 8x4x4\n output y = x -> b(attn = se2)\n}\n"
    )
    assert "'attn(...)' gives no value for its parameter 'ratio'" in err.message
    assert _text(err.span) == "se2"


def test_a_required_parameter_of_a_block_bound_by_a_default() -> None:
    body = "block b(attn = se2) = conv(8, 1) -> attn\n"
    (err,) = _errors(NEEDS + body + "model m {\n input x: 8x4x4\n output y = x -> b\n}\n")
    assert "its parameter 'ratio' has no default" in err.message
    assert (err.line, err.column) == (2, 16)  # the default


def test_a_bound_name_that_is_no_op_or_block_suggests_one() -> None:
    (err,) = _errors(SE + SMALL + "model m {\n input x: 8x4x4\n output y = x -> b(attn = sse)\n}\n")
    assert err.message == "unknown op or block 'sse', bound to the parameter 'attn'"
    assert _text(err.span) == "sse"
    assert err.hint == "did you mean 'se'?"
    assert _text(err.notes[0].span) == "attn"


def test_a_bound_name_from_params_is_located_at_the_element() -> None:
    text = SE + SMALL + "model m(a = se) {\n input x: 8x4x4\n output y = x -> b(attn = a)\n}\n"
    assert model(text).outputs == {"y": (8, 4, 4)}
    (err,) = _errors(text, params={"a": "sse"})
    assert "'sse', bound to the parameter 'attn'" in err.message
    assert _text(err.span) == "attn" and err.hint == "did you mean 'se'?"


@pytest.mark.parametrize(
    ("blocks", "use"),
    [
        ("block rec(f = rec) = conv(8, 1) -> f\n", "rec"),
        ("block rec(f = identity) = conv(8, 1) -> f\n", "rec(f = rec)"),
    ],
    ids=["default", "argument"],
)
def test_a_block_bound_into_itself_is_refused(blocks: str, use: str) -> None:
    (err,) = _errors(blocks + f"model m {{\n input x: 8x4x4\n output y = x -> {use}\n}}\n")
    assert err.message.startswith(
        "block 'rec' applies itself through the parameter 'f': rec -> rec"
    )
    assert _text(err.span) == "f"
    assert any(n.message == "'f' is bound to block 'rec' here" for n in err.notes)


def test_after_a_failed_element_a_bound_block_is_not_an_unknown_name() -> None:
    # the rest of `ir`'s body is checked without shapes: `attn` names the model's `se`, which
    # `ir` cannot see by name, and that is no mistake
    body = "block b(attn = identity) = conv(8, 1, act = rleu) -> attn -> relu\n"
    local = SE.replace("\n", "\n ")
    (err,) = _errors(
        body + f"model m {{\n input x: 8x4x4\n {local}\n output y = x -> b(attn = se)\n}}\n"
    )
    assert "rleu" in err.message
