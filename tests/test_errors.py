"""`InceptErrors` with very many errors: bounded output, complete `.errors`, linear work."""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

import pytest

import incept_dsl
from incept_dsl import errors
from incept_dsl.errors import InceptErrors, InceptNameError
from incept_dsl.source import SourceFile


def _many_keywords(n: int) -> str:
    """One model whose one long line has `n` unknown keywords: `n` independent errors."""
    keywords = ", ".join(f"k{i}=1" for i in range(n))
    return f"model m {{ input x: 3x8x8\noutput y = x -> conv(4, 1, {keywords}) }}\n"


def test_render_prints_the_first_errors_in_source_order_then_a_count() -> None:
    n = InceptErrors.MAX_RENDERED + 150
    src = SourceFile("many.incept", "".join(f"w{i}\n" for i in range(n)))
    starts = [src.text.index(f"w{i}\n") for i in range(n)]
    errs = [
        InceptNameError(f"bad w{i}", src.span(s, s + 1))
        for i, s in reversed(list(enumerate(starts)))
    ]
    collected = InceptErrors(errs)
    assert len(collected.errors) == n  # the API keeps every error
    assert [e.message for e in collected.errors] == [f"bad w{i}" for i in range(n)]
    text = collected.render()
    printed = [line for line in text.splitlines() if ": error: " in line]
    assert printed == [
        f"many.incept:{i + 1}:1: error: bad w{i}" for i in range(InceptErrors.MAX_RENDERED)
    ]
    assert text.splitlines()[-1] == f"… and 150 more errors ({n} in all)"


def test_render_below_the_cap_prints_everything() -> None:
    src = SourceFile("few.incept", "a b c\n")
    collected = InceptErrors(
        [InceptNameError(m, src.span(i * 2, i * 2 + 1)) for i, m in enumerate("abc")]
    )
    text = collected.render()
    assert text.count(": error: ") == 3
    assert text.endswith("\n\n3 errors")


def test_many_unknown_keywords_make_a_bounded_number_of_suggestion_lookups(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = 0
    real = difflib.get_close_matches

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(difflib, "get_close_matches", counted)
    with pytest.raises(InceptErrors) as info:
        incept_dsl.loads(_many_keywords(5_000))
    assert len(info.value.errors) == 5_000
    assert calls <= errors.MAX_SUGGESTION_LOOKUPS
    # a later build starts a new budget: its misspelling gets its suggestion
    with pytest.raises(incept_dsl.InceptError) as one:
        incept_dsl.loads(_many_keywords(1).replace("k0=1", "strid=1"))
    assert "did you mean 'stride'?" in one.value.render()


def test_fifty_thousand_errors_on_one_long_line_print_a_bounded_report(tmp_path: Path) -> None:
    n = 50_000
    path = tmp_path / "wide.incept"
    path.write_text(_many_keywords(n))
    proc = subprocess.run(
        [sys.executable, "-m", "incept_dsl.cli", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=300,  # generous: it takes seconds; before the cap and bounds it took far longer
    )
    assert proc.returncode != 0
    lines = proc.stderr.splitlines()
    assert lines[-1] == f"… and {n - InceptErrors.MAX_RENDERED} more errors ({n} in all)"
    assert sum(": error: " in line for line in lines) == InceptErrors.MAX_RENDERED
    assert len(proc.stderr) < 100 * 1_000  # excerpts of the 800 KB line are windows of it
