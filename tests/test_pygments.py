"""The Pygments lexer (`incept_dsl/pygments_lexer.py`) and its entry point."""

from __future__ import annotations

from pathlib import Path

import pytest
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, String

from incept_dsl.frontend.signatures import surface_op_names
from incept_dsl.pygments_lexer import InceptLexer
from incept_dsl.resources import bundled_architectures


def _tokens(text: str) -> list[tuple[object, str]]:
    return [(t, v) for t, v in InceptLexer().get_tokens(text) if v.strip()]


def test_the_entry_point_registers_the_lexer() -> None:
    # needs the package installed (`pip install -e .`), which registers the entry point
    assert isinstance(get_lexer_by_name("incept"), InceptLexer)
    assert isinstance(get_lexer_for_filename("googlenet.incept"), InceptLexer)


def test_token_kinds() -> None:
    text = """import "blocks.incept"  # shared blocks
model tiny(classes = 10, width = 1.5e-1) {
    input image: 3x224x224
    defaults conv(bn = true, act = relu)
    x = image -> conv(int(64 * width), 1x7, padding = same) as stem
    output logits = x -> concat { a: relu; b: maxpool(3) } -> avgpool(global) -> flatten
        -> linear(classes)
    aux side = x -> flatten -> fc(classes) weight 0.3
}
"""
    kinds: dict[str, object] = {}
    for t, v in _tokens(text):
        kinds.setdefault(v, t)  # the first occurrence of each text
    assert kinds["import"] in Keyword and kinds['"blocks.incept"'] in String
    assert kinds["# shared blocks"] in Comment
    assert kinds["model"] in Keyword.Declaration and kinds["tiny"] in Name.Class
    assert kinds["image"] in Name.Variable and kinds["logits"] in Name.Variable
    assert kinds["3x224x224"] in Number and kinds["1x7"] in Number
    assert kinds["10"] in Number.Integer and kinds["1.5e-1"] in Number.Float
    assert kinds["0.3"] in Number.Float
    for op in ("conv", "maxpool", "avgpool", "flatten", "linear", "fc", "relu"):
        assert kinds[op] in Name.Builtin, op
    for kw in ("defaults", "concat", "weight", "as"):
        assert kinds[kw] in Keyword, kw
    assert kinds["true"] in Keyword.Constant
    assert kinds["int"] in Name.Function
    assert kinds["global"] in Name.Constant and kinds["same"] in Name.Constant
    assert kinds["padding"] in Name.Attribute and kinds["classes"] in Name.Attribute
    assert kinds["x"] in Name.Variable
    assert kinds["stem"] in Name.Label and kinds["a"] in Name.Label
    assert kinds["->"] in Operator and kinds["*"] in Operator


def test_every_op_of_the_op_table_is_a_builtin() -> None:
    for op in surface_op_names():
        ((kind, value),) = _tokens(op)
        assert value == op and kind in Name.Builtin, op


@pytest.mark.parametrize("path", bundled_architectures(), ids=lambda p: p.stem)
def test_shipped_files_lex_without_errors_and_round_trip(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    toks = list(InceptLexer().get_tokens(text))
    assert not [v for t, v in toks if t in Error]
    assert "".join(v for _, v in toks) == text


def test_mul_is_a_keyword_like_add() -> None:
    toks = _tokens("block se = mul { identity; avgpool(global) -> sigmoid }\nx = mul(a, b)")
    kinds = [t for t, v in toks if v == "mul"]
    assert len(kinds) == 2 and all(k in Keyword for k in kinds)
    assert dict((v, t) for t, v in toks)["identity"] in Name.Builtin


def test_the_v2_constructs_are_highlighted() -> None:
    """Every v2 op, also as an `act =` or block-parameter value; `make_divisible` as a function;
    the input dimensions of a block body as built-in names; `mul` as a join keyword."""
    from incept_dsl.frontend.signatures_v2 import V2_SIGNATURES

    text = (
        "block se(ratio = 4) = mul { identity; avgpool(global)"
        " -> conv(make_divisible(in_channels / ratio), 1, act = hardswish) }\n"
        "block b(attn = se) = conv(in_height, 1) -> attn -> conv_transpose(in_width, 2, stride = 2,"
        " output_padding = 1x0) -> layernorm(eps = 1e-6)\n"
        "model m { input x: 3x8x8\n"
        " output y = x -> tokens -> class_token -> pos_embedding(std = 0.02)"
        " -> attention(heads = 2) -> select(0) -> slice(0, 2) -> leaky_relu(slope = 0.2) }\n"
    )
    toks = _tokens(text)
    kinds: dict[str, set[object]] = {}
    for t, v in toks:
        kinds.setdefault(v, set()).add(t)
    used = {sig.name for sig in V2_SIGNATURES} & set(kinds)
    assert len(used) == 8  # conv_transpose, layernorm, slice and the token ops
    for op in (*used, "leaky_relu", "hardswish"):
        assert kinds[op] == {Name.Builtin}, op
    assert kinds["make_divisible"] == {Name.Function}
    assert kinds["in_channels"] == kinds["in_height"] == kinds["in_width"] == {Name.Builtin.Pseudo}
    assert kinds["mul"] == {Keyword}
    assert kinds["heads"] == kinds["output_padding"] == kinds["std"] == {Name.Attribute}
    assert kinds["1x0"] == {Number.Integer}
    assert not [v for t, v in InceptLexer().get_tokens(text) if t in Error]


def test_every_surface_op_is_highlighted_in_a_pipeline() -> None:
    """In a call, not only alone: `x -> NAME(...)` gives the op as a built-in, for every op."""
    for op in surface_op_names():
        toks = _tokens(f"y = x -> {op}(1) -> {op}")
        assert [t for t, v in toks if v == op] == [Name.Builtin, Name.Builtin], op
