"""Parser: the AST mirrors the grammar, every node carries a span, syntax errors are located."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incept_dsl.errors import InceptSyntaxError
from incept_dsl.frontend import ast, parse, parse_expr
from incept_dsl.ir.values import evaluate

PROGRAM = """import "lib.incept"
block b(c, k = 3) = conv(c, k) -> relu
model m(n = 2) {
    input x: 3x8x8
    defaults conv(act = relu)
    y = x -> concat { a: b(4); (conv(2, 1x7)) } as cat -> repeat(n) { identity }
    z = add(y, y) -> residual(scale = 0.5) { relu }
    aux w = z -> flatten -> fc(3) weight 0.3
    output o = z -> expect(12x8x8)
}
"""


def test_program_structure():
    p = parse(PROGRAM, "p.incept")
    assert [i.path for i in p.imports] == ["lib.incept"]
    assert [b.name for b in p.blocks] == ["b"]
    (m,) = p.models
    kinds = [type(s).__name__ for s in m.body]
    assert kinds == ["InputStmt", "Defaults", "Bind", "Bind", "Bind", "Bind"]
    y = m.body[2]
    assert isinstance(y.pipeline.elements[1], ast.Named)
    cat = y.pipeline.elements[1].element
    assert isinstance(cat, ast.Branches) and cat.kind == "concat"
    assert cat.branches[0].label == "a"
    assert isinstance(cat.branches[1].pipeline.elements[0], ast.Group)
    assert isinstance(m.body[3].pipeline.elements[0], ast.Join)
    assert m.body[4].kind == "aux" and m.body[5].kind == "output"


def test_spans_point_into_the_source():
    p = parse(PROGRAM, "p.incept")
    call = p.blocks[0].body.elements[0]
    assert (call.span.line, call.span.column) == (2, 21)
    assert PROGRAM[call.span.start : call.span.end] == "conv(c, k)"


@pytest.mark.parametrize(
    ("text", "line", "col", "words"),
    [
        ("model m { input x 3x8x8 }", 1, 19, "expected ':'"),
        ("model m { input x: 3x8x8\n output y = x -> }", 2, 18, "unexpected '}'"),
        ("model m {", 1, 10, "end of the file"),
        ("model m { input x: 3x8x8 output y = x -> conv(8, [3]) }", 1, 50, "unexpected character"),
    ],
)
def test_syntax_errors_are_located_and_in_words(text, line, col, words):
    with pytest.raises(InceptSyntaxError) as e:
        parse(text, "bad.incept")
    assert (e.value.line, e.value.column) == (line, col)
    assert words in e.value.message
    assert "RPAR" not in str(e.value) and "__ANON" not in str(e.value)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 10**6), st.sampled_from(["+", "-", "*", "//", "%"]))
def test_integer_arithmetic_matches_python(a, b, op):
    expected = {"+": a + b, "-": a - b, "*": a * b, "//": a // b, "%": a % b}[op]
    assert evaluate(parse_expr(f"{a} {op} {b}"), {}) == expected


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 4096), min_size=1, max_size=4))
def test_shape_literals(dims):
    text = "x".join(map(str, dims))
    value = evaluate(parse_expr(text), {})
    assert value == (tuple(dims) if len(dims) > 1 else dims[0])
