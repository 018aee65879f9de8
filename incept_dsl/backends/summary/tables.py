"""Renderers of one plain table to text, Markdown, LaTeX (booktabs) and CSV.

A `Table` holds display strings only; the caller formats numbers. Every renderer is a pure function
of the table, so the same table gives byte-identical text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    """`headers` and `rows` of display strings, `aligns` one of "l"/"r" per column, an optional
    `total` row set apart, a `title` line above and `notes` (lines) below."""

    title: str
    headers: tuple[str, ...]
    aligns: str
    rows: tuple[tuple[str, ...], ...]
    total: tuple[str, ...] | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        width = len(self.headers)
        if len(self.aligns) != width or any(len(r) != width for r in self.body()):
            raise ValueError("every row of a table needs one cell per column")

    def body(self) -> list[tuple[str, ...]]:
        return [*self.rows, *([self.total] if self.total is not None else [])]


def to_text(t: Table) -> str:
    """Columns padded to their widest cell, two spaces apart, a rule under the header and above
    the total; the title first and the notes last."""
    cells = [t.headers, *t.body()]
    widths = [max(len(r[i]) for r in cells) for i in range(len(t.headers))]

    def line(row: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if a == "r" else c.ljust(w)
            for c, w, a in zip(row, widths, t.aligns, strict=True)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [t.title, "", line(t.headers), rule, *(line(r) for r in t.rows)]
    if t.total is not None:
        out += [rule, line(t.total)]
    if t.notes:
        out += ["", *t.notes]
    return "\n".join(out) + "\n"


def _md_cell(text: str) -> str:
    """`text` for one Markdown table cell: on one line, `|` and `\\` escaped."""
    text = "".join(" " if ord(c) < 32 or c in "\x7f\u2028\u2029" else c for c in text)
    return text.replace("\\", "\\\\").replace("|", "\\|")


def to_markdown(t: Table, code_columns: tuple[int, ...] = ()) -> str:
    """A GitHub/CommonMark pipe table (header, alignment row, one line per row; the total in
    bold), the title as a paragraph before it and the notes as a list after it. Cells of
    `code_columns` are set as code (scope names keep their underscores)."""

    def cell(i: int, text: str, bold: bool = False) -> str:
        if not text:
            return ""
        text = f"`{text}`" if i in code_columns else _md_cell(text)
        return f"**{text}**" if bold else text

    def line(row: Sequence[str], bold: bool = False) -> str:
        return "| " + " | ".join(cell(i, c, bold) for i, c in enumerate(row)) + " |"

    sep = "|" + "|".join(":---" if a == "l" else "---:" for a in t.aligns) + "|"
    out = [_md_cell(t.title), "", "| " + " | ".join(_md_cell(h) for h in t.headers) + " |", sep]
    out += [line(r) for r in t.rows]
    if t.total is not None:
        out.append(line(t.total, bold=True))
    if t.notes:
        out += ["", *(f"- {_md_cell(n)}" for n in t.notes)]
    return "\n".join(out) + "\n"


_TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "[": "{[}",  # after a row's `\\` a `[` would open its optional argument
    "]": "{]}",
    "×": r"$\times$",
    "·": r"$\cdot$",
    "²": r"$^2$",
    "≈": r"$\approx$",
    "−": "-",
    "→": r"$\to$",
    "′": "'",
    "…": r"\dots{}",
    "—": "---",
    "–": "--",
}


def tex_escape(text: str) -> str:
    """`text` as LaTeX text-mode source that pdflatex accepts, on one line (specials and the
    non-ASCII symbols the tables use are replaced; control characters become spaces, anything
    else non-ASCII `?`)."""
    out = []
    for ch in text:
        if ch in _TEX_SPECIAL:
            out.append(_TEX_SPECIAL[ch])
        elif ord(ch) < 32 or ord(ch) == 127:  # a line break would end a `%` comment
            out.append(" ")
        elif ord(ch) < 128:
            out.append(ch)
        else:
            out.append("?")
    return "".join(out)


def _tex_row(cells: Sequence[str]) -> str:
    """One tabular row of escaped `cells`, ended by `\\\\`; `{}` before a leading `*`."""
    line = " & ".join(tex_escape(c) for c in cells)
    return ("{}" if line.startswith("*") else "") + line + r" \\"


def to_latex(t: Table, caption: str, label: str) -> str:
    """A `table` float holding a booktabs `tabular` (the document needs `\\usepackage{booktabs}`),
    small type, the caption above and the notes in footnote size under it, one paragraph each.
    No comment lines: every cell and note is escaped text (`tex_escape`; a row never starts with
    `*`, which `\\\\` would read), so the fragment compiles in a plain `article` with booktabs
    (the title is not repeated: the caller's caption says it)."""
    spec = "".join(t.aligns)
    out = [
        r"\begin{table}[htbp]",
        r"\centering",
        r"\small",
        rf"\caption{{{tex_escape(caption)}}}",
        rf"\label{{{label}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        _tex_row(t.headers),
        r"\midrule",
    ]
    out += [_tex_row(r) for r in t.rows]
    if t.total is not None:
        out += [r"\midrule", _tex_row(t.total)]
    out += [r"\bottomrule", r"\end{tabular}"]
    if t.notes:
        out += [r"\par\medskip", r"\begin{minipage}{\linewidth}", r"\footnotesize\raggedright"]
        out += [tex_escape(n) + r"\par" for n in t.notes]
        out.append(r"\end{minipage}")
    out.append(r"\end{table}")
    return "\n".join(out) + "\n"


def to_csv(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """RFC 4180 CSV (the `csv` module, `\\n` line ends): a header line, then one line per row."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return buf.getvalue()
