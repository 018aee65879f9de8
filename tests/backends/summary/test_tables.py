"""The plain-table renderers (`incept_dsl.backends.summary.tables`)."""

from __future__ import annotations

import csv
import io

import pytest

from incept_dsl.backends.summary.tables import (
    Table,
    tex_escape,
    to_csv,
    to_latex,
    to_markdown,
    to_text,
)

T = Table(
    "title | x",
    ("name", "n"),
    "lr",
    (("a_b", "1"), ("c|d", "1,000")),
    ("total", "1,001"),
    ("note 50% × 2",),
)


def test_text_aligns_columns_and_sets_the_total_apart():
    lines = to_text(T).splitlines()
    assert lines[0] == "title | x"
    assert lines[2:][:2] == ["name       n", "-----  -----"]
    assert lines[4] == "a_b        1"
    assert lines[5] == "c|d    1,000"
    assert lines[6] == "-----  -----" and lines[7] == "total  1,001"
    assert lines[-1] == "note 50% × 2"


def test_markdown_escapes_pipes_and_bolds_the_total():
    md = to_markdown(T, code_columns=(0,))
    lines = md.splitlines()
    assert lines[0] == "title \\| x"
    assert lines[2] == "| name | n |" and lines[3] == "|:---|---:|"
    assert lines[4] == "| `a_b` | 1 |"
    assert lines[6] == "| **`total`** | **1,001** |"
    assert lines[-1] == "- note 50% × 2"


def test_latex_escapes_specials():
    assert tex_escape("#1×1 a_b 5% {x}") == r"\#1$\times$1 a\_b 5\% \{x\}"
    tex = to_latex(T, "caption_1", "tab:x")
    assert r"\begin{tabular}{lr}" in tex and r"\toprule" in tex and r"\bottomrule" in tex
    assert r"a\_b & 1 \\" in tex
    assert tex.count(r"\midrule") == 2
    assert tex.isascii()


def test_csv_round_trips():
    text = to_csv(["a", "b"], [["x,y", 3], ['q"', ""]])
    assert list(csv.reader(io.StringIO(text))) == [["a", "b"], ["x,y", "3"], ['q"', ""]]


def test_ragged_rows_are_refused():
    with pytest.raises(ValueError):
        Table("t", ("a", "b"), "ll", (("1",),))
