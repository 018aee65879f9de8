"""`fmt` stays linear in the size of the file: comments, long files and deep nesting.

The checks count work where they can (calls of the flattener) and otherwise give each step a
budget about 50× what a linear implementation needs here, while a quadratic one needs minutes.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from incept_dsl import fmt
from incept_dsl.fmt import _assemble, _Comment, _Line, format_text
from incept_dsl.frontend.parser import MAX_NESTING
from incept_dsl.source import SourceFile

N = 50_000


def test_attaching_many_trailing_comments_is_linear() -> None:
    # one output line per source line, each with a trailing comment: the old search for a
    # comment's line scanned every output line per comment (N² = 2.5e9 steps)
    text = "".join(f"a{i}  # c{i}\n" for i in range(N))
    src = SourceFile("f", text)
    lines = [_Line(4, f"a{i}", {i + 1}) for i in range(N)]
    comments = [_Comment(0, i + 1, f"# c{i}", False) for i in range(N)]
    start = time.perf_counter()
    out = _assemble(lines, comments, src)
    assert time.perf_counter() - start < 10
    assert out.count("  # c") == N


def test_placing_many_own_line_comments_is_linear() -> None:
    text = "".join(f"# c{i}\n" for i in range(N)) + "a\n"
    src = SourceFile("f", text)
    lines = [_Line(0, "a", {N + 1})]
    comments = [_Comment(i, i + 1, f"# c{i}", True) for i in range(N)]
    start = time.perf_counter()
    out = _assemble(lines, comments, src)
    assert time.perf_counter() - start < 10
    assert out.splitlines()[-1] == "a" and len(out.splitlines()) == N + 1


def test_a_program_with_thousands_of_trailing_comments_keeps_them_all() -> None:
    n = 3_000
    body = "".join(
        f"    a{i} = {'x' if i == 0 else f'a{i - 1}'} -> relu  # c{i}\n" for i in range(n)
    )
    text = f"model m {{\n    input x: 3x8x8\n{body}    output y = a{n - 1}\n}}\n"
    out = format_text(text)
    assert all(f"-> relu  # c{i}\n" in out for i in range(n))


def test_nested_bodies_are_flattened_once_each(monkeypatch: pytest.MonkeyPatch) -> None:
    # every level asks for the flat text of everything inside it: without the memo the
    # flattener runs O(elements × depth) times
    # (one line too long to stay one line: each level is laid out, and asks again)
    depth, width = MAX_NESTING - 10, 2000
    inner = " -> ".join(["relu"] * width)
    text = (
        "model m { input x: 3x8x8\n output y = x -> "
        + "relu -> residual { " * depth
        + inner
        + " }" * depth
        + " }\n"
    )
    calls = 0
    original = fmt._Writer._flatten

    def counting(self: fmt._Writer, el: object) -> str:
        nonlocal calls
        calls += 1
        return original(self, el)

    monkeypatch.setattr(fmt._Writer, "_flatten", counting)
    out = format_text(text)
    assert out.count("relu") == depth + width
    assert calls <= 2 * (depth + width)  # without the memo: 834,200


def test_fmt_refuses_a_formatted_text_past_the_source_size_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 100 KB of deeply nested concats: each of the 20,000 relus gets its own line indented
    # ~190 levels, 15 MB that no command could read back
    from incept_dsl.cli import main

    depth, width = 190, 20_000
    text = (
        "model m { input x: 3x8x8\n output y = x -> "
        + "concat { " * depth
        + ";".join(["relu"] * width)
        + " }" * depth
        + " }\n"
    )
    path = tmp_path / "deep.incept"
    path.write_text(text, encoding="utf-8")
    for extra in ([], ["--stdout"], ["--check"]):
        assert main(["fmt", str(path), *extra]) == 1
        out, err = capsys.readouterr()
        assert out == ""
        assert "deep.incept: error: the formatted text would be" in err
        assert "5,000,000-byte limit" in err
        assert path.read_text(encoding="utf-8") == text
