"""Display names: `ELEMENT as NAME "Display Name"` (a v2 extension) parses, reaches the IR as
`graph.data["display_names"]`, survives the formatter, and a bad one is a located error."""

from __future__ import annotations

import pytest

import incept_dsl
from incept_dsl.errors import InceptSyntaxError
from incept_dsl.fmt import format_text
from incept_dsl.frontend import ast, parse
from incept_dsl.frontend.display_names import MAX_DISPLAY_NAME

PROGRAM = """block pair(c) = conv(c, 3) -> conv(c, 3)

model m {
    input x: 3x8x8
    y = x -> pair(4) as enc1 "Encoder (1)" -> concat { a: conv(2, 1); b: conv(2, 1) } as cat
    output o = y -> conv(4, 1) as head "Head: 1×1 <conv>" -> flatten
}
"""


def test_a_display_name_is_parsed_into_the_named_element() -> None:
    (m,) = parse(PROGRAM, "p.incept").models
    named = [e for e in m.body[1].pipeline.elements if isinstance(e, ast.Named)]
    assert [(e.name, e.display) for e in named] == [("enc1", "Encoder (1)"), ("cat", None)]
    assert named[0].display_span is not None and named[0].display_span.line == 5


def test_display_names_reach_the_ir_by_scope_and_change_nothing_else() -> None:
    m = incept_dsl.loads(PROGRAM, name="p.incept")
    assert m.graph.data["display_names"] == {"enc1": "Encoder (1)", "head": "Head: 1×1 <conv>"}
    plain = incept_dsl.loads(
        PROGRAM.replace(' "Encoder (1)"', "").replace(' "Head: 1×1 <conv>"', ""), name="p.incept"
    )
    assert "display_names" not in plain.graph.data
    assert m.torch_source() == plain.torch_source()  # text only: same module, same keys


def test_the_formatter_keeps_display_names() -> None:
    out = format_text(PROGRAM, "p.incept")
    assert 'pair(4) as enc1 "Encoder (1)"' in out and 'as head "Head: 1×1 <conv>"' in out
    assert format_text(out, "p.incept") == out


@pytest.mark.parametrize(
    ("display", "problem"),
    [
        ('""', "is empty"),
        ('"   "', "is empty"),
        ('"' + "x" * (MAX_DISPLAY_NAME + 1) + '"', f"at most {MAX_DISPLAY_NAME}"),
        ('"a\u200bb"', "control character U+200B"),
    ],
)
def test_a_bad_display_name_is_a_located_syntax_error(display: str, problem: str) -> None:
    source = PROGRAM.replace('"Encoder (1)"', display)
    with pytest.raises(InceptSyntaxError, match="display name") as err:
        parse(source, "p.incept")
    assert problem in str(err.value)
    assert err.value.span is not None and err.value.span.line == 5
