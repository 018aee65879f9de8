"""Line ends and excerpts (`incept_dsl.source`, the grammar's terminals, `fmt`): `\\n`, `\\r\\n`
and a lone `\\r` are all line ends everywhere, and an excerpt never prints a control character."""

from __future__ import annotations

from pathlib import Path

import pytest

import incept_dsl
from incept_dsl.cli import main
from incept_dsl.errors import InceptError
from incept_dsl.fmt import ast_equal, format_text
from incept_dsl.frontend.parser import parse
from incept_dsl.source import SourceFile

PROGRAM = """# a model with comments on every kind of line
model m(c = 8) {  # trailing on the header
    input x: 3x8x8
    # an own-line comment
    a = x -> conv(c, 3, padding = 1)  # trailing on a statement
    output y = a -> relu
}  # after the model
"""

LINE_ENDS = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}


@pytest.mark.parametrize("end", LINE_ENDS.values(), ids=LINE_ENDS.keys())
def test_a_program_checks_the_same_with_every_line_end(end: str) -> None:
    m = incept_dsl.loads(PROGRAM.replace("\n", end), name="m.incept")
    assert m.outputs == {"y": (8, 8, 8)}


@pytest.mark.parametrize("end", LINE_ENDS.values(), ids=LINE_ENDS.keys())
def test_errors_are_located_alike_with_every_line_end(end: str) -> None:
    text = PROGRAM.replace("relu", "rleu").replace("\n", end)
    with pytest.raises(InceptError) as e:
        incept_dsl.loads(text, name="m.incept")
    assert (e.value.line, e.value.column) == (6, 21)
    excerpt = e.value.span.excerpt()
    assert excerpt.splitlines()[0] == "   6 |     output y = a -> rleu"


@pytest.mark.parametrize("end", LINE_ENDS.values(), ids=LINE_ENDS.keys())
def test_a_comment_ends_at_every_line_end(end: str) -> None:
    # were `#` to run to the next \n, the `model` line after a \r would be swallowed
    text = "# comment" + end + "model m { input x: 3x8x8" + end + " output y = x }"
    assert [m.name for m in parse(text).models] == ["m"]


@pytest.mark.parametrize("end", LINE_ENDS.values(), ids=LINE_ENDS.keys())
def test_fmt_keeps_every_comment_with_every_line_end(end: str) -> None:
    text = PROGRAM.replace("\n", end)
    out = format_text(text, "m.incept")
    assert out == format_text(PROGRAM, "m.incept")  # the same layout, written with \n
    assert "\r" not in out
    assert ast_equal(parse(out), parse(text))
    for comment in (
        "# a model",
        "# trailing on the header",
        "# an own-line comment",
        "# trailing on a statement",
        "# after the model",
    ):
        assert out.count(comment) == 1


def test_fmt_command_rewrites_cr_files_to_lf(tmp_path: Path) -> None:
    p = tmp_path / "m.incept"
    formatted = format_text(PROGRAM)
    p.write_bytes(formatted.replace("\n", "\r").encode())
    assert main(["fmt", "--check", str(p)]) == 1  # compared as read, not as Python would
    assert main(["fmt", str(p)]) == 0
    assert p.read_bytes() == formatted.encode()


@pytest.mark.parametrize("end", LINE_ENDS.values(), ids=LINE_ENDS.keys())
def test_positions_count_each_line_end_once(end: str) -> None:
    src = SourceFile("f", f"a{end}b{end}{end}c")
    c = src.text.index("c")
    assert src.line_col(c) == (4, 1)
    assert [src.line_text(i) for i in range(1, 5)] == ["a", "b", "", "c"]


def test_excerpts_never_print_control_characters() -> None:
    src = SourceFile("f", "a = \x1b[31mred\x07 \u202e x\tz")
    excerpt = src.span(src.text.index("x"), src.text.index("x") + 1).excerpt()
    assert "\x1b" not in excerpt and "\x07" not in excerpt and "\u202e" not in excerpt
    line, carets = excerpt.splitlines()
    assert line.index("x") == carets.index("^")  # one replacement per character
