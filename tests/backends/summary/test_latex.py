"""The LaTeX form of the cost tables: a comment-free booktabs `table` that compiles in a plain
`article` (every view and option, token tables, hostile cells), with every special escaped."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import incept_dsl
from incept_dsl.backends.summary.tables import Table, tex_escape, to_latex

#: helpers.SUMMARY_TINY with an underscore in every name, which LaTeX must escape.
TINY = """
model tiny_net(classes = 10) {
    input image_in: 3x32x32
    defaults conv(bn = true, act = relu)
    block mixed_up(c) = concat {
        conv(c, 1)
        conv(c, 1) -> conv(c, 3)
        maxpool(3, stride = 1) -> conv(c, 1)
    }
    x = image_in -> conv(16, 3, stride = 2) -> maxpool(2) -> mixed_up(8) as mix_1
    y = x -> residual(scale = 0.5) { conv(24, 3, act = none) } -> relu
    aux side_head = y -> avgpool(global) -> flatten -> linear(classes) weight 0.3
    output logits_out = y -> avgpool(global) -> flatten -> dropout(0.2) -> linear(classes)
}
"""

#: Cells no program name can hold, but a `Table` may: every LaTeX special, a row that starts
#: with `*` or `[` (what `\\` reads as its own argument), control characters, non-ASCII text.
HOSTILE = (
    "a_b%c&d#e$f{g}h~i^j\\k",
    "*starred",
    "[bracket]",
    "% not a comment",
    "line\nbreak\ttab\x00nul\x7f",
    "ünïcödé → × · ² ≈ − ′ … — –",
    "\\\\ \\end{document}",
    "<>|\"'`!?",
)


def _cases() -> list[tuple[str, str]]:
    """(what, LaTeX) of every table shape the formats make."""
    tiny = incept_dsl.loads(TINY, name="tiny_net.incept")
    out = []
    for by in ("layer", "block"):
        out.append((f"tiny {by}", tiny.summary(by=by, batch=8).to_latex()))
        out.append(
            (f"tiny {by} aux flops", tiny.summary(by=by, keep_aux=True, flops=True).to_latex())
        )
    out.append(("tiny -O2", tiny.summary(opt_level=2).to_latex()))
    googlenet = incept_dsl.load("googlenet.incept", model="googlenet")
    out.append(("googlenet blocks (#1×1 columns)", googlenet.summary(by="block").to_latex()))
    vit = incept_dsl.load("vit.incept", model="vit_b_16")
    out.append(("vit blocks (tokens L×D)", vit.summary(by="block", flops=True).to_latex()))
    unet = incept_dsl.load("unet.incept", model="unet")
    out.append(("unet blocks -O1", unet.summary(by="block", opt_level=1).to_latex()))
    table = Table(
        "title_%", ("h_1", "h&2"), "lr", tuple((c, c) for c in HOSTILE), ("*", "["), HOSTILE
    )
    out.append(("hostile cells", to_latex(table, "caption " + "".join(HOSTILE), "tab:x")))
    return out


def test_no_comment_lines_and_booktabs_rules():
    for what, tex in _cases():
        lines = tex.splitlines()
        assert not any(line.lstrip().startswith("%") for line in lines), what
        assert lines[0] == r"\begin{table}[htbp]" and lines[-1] == r"\end{table}", what
        assert {r"\toprule", r"\midrule", r"\bottomrule"} <= set(lines), what


@pytest.mark.skipif(
    shutil.which("pdflatex") is None,
    reason="pdflatex is not installed (apt-get install texlive-latex-base "
    "texlive-latex-recommended)",
)
def test_every_case_compiles_in_a_plain_article(tmp_path: Path):
    """One plain document (`article` + booktabs, nothing else) holding every case."""
    body = "".join(tex + "\\clearpage\n" for _, tex in _cases())
    doc = tmp_path / "tables.tex"
    doc.write_text(
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
        + body
        + "\\end{document}\n",
        encoding="ascii",  # tex_escape leaves nothing else
    )
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    log = (tmp_path / "tables.log").read_text(encoding="latin-1")
    assert "Missing character" not in log and "Undefined control sequence" not in log
    assert f"Output written on tables.pdf ({len(_cases())} pages" in run.stdout


# ---- escaping, for any text ----------------------------------------------------------------------
_ESCAPES = re.compile(
    r"\\textbackslash\{\}|\\textasciitilde\{\}|\\textasciicircum\{\}|\\dots\{\}|\\[&%$#_{}]"
    r"|\{\[\}|\{\]\}|\$\\times\$|\$\\cdot\$|\$\^2\$|\$\\approx\$|\$\\to\$"
)


@given(st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_tex_escape_leaves_no_special_unescaped(text: str):
    bare = _ESCAPES.sub("", tex_escape(text))
    assert not set(bare) & set("\\&%$#_{}~^[]"), bare
    assert all(32 <= ord(c) < 127 for c in bare)  # one line of ASCII


@given(st.lists(st.text(max_size=20), min_size=3, max_size=3), st.text(max_size=20))
@settings(max_examples=200, deadline=None)
def test_a_hostile_row_stays_one_row(cells: list[str], note: str):
    """Whatever the cells say, each row is one line with its own `&`s and `\\\\`, and nothing
    is a comment."""
    table = Table("t", ("a", "b", "c"), "llr", (tuple(cells),), tuple(cells), (note,))
    lines = to_latex(table, note, "tab:t").splitlines()
    rows = [ln for ln in lines if ln.endswith(r" \\")]
    assert len(rows) == 3  # header, the row, the total
    for row in rows:
        assert len(re.findall(r"(?<!\\)&", row)) == 2
        assert not row.startswith(("*", "["))
    assert not any(ln.startswith("%") for ln in lines)
