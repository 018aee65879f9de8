"""LSP positions count UTF-16 code units; the server's offsets count characters."""

from __future__ import annotations

import pytest

pytest.importorskip("lsprotocol", reason="the language server needs the lsp extra")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from incept_dsl.lsp.positions import offset_at, position_at  # noqa: E402
from incept_dsl.source import SourceFile  # noqa: E402


def test_a_character_outside_the_bmp_counts_two():
    src = SourceFile("t", "# 😀 x\nab\n")
    pos = position_at(src, src.text.index("x"))
    assert (pos.line, pos.character) == (0, 5)
    assert offset_at(src, pos) == src.text.index("x")


@given(st.text(alphabet="ab\n\r😀é", max_size=30), st.data())
def test_offsets_round_trip(text, data):
    src = SourceFile("t", text)
    offset = data.draw(st.integers(0, len(text)))
    if offset and text[offset - 1] == "\r" and text[offset : offset + 1] == "\n":
        offset -= 1  # inside a \r\n: no position names it
    assert offset_at(src, position_at(src, offset)) == offset


def test_positions_past_the_end_clamp():
    from lsprotocol import types

    src = SourceFile("t", "ab\ncd")
    assert offset_at(src, types.Position(7, 0)) == 5
    assert offset_at(src, types.Position(0, 99)) == 2
