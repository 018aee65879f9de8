"""The blocks view as TikZ: escaping, the document forms, determinism, and real pdflatex runs
(skipped when pdflatex is missing)."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
from helpers import HOSTILE_BLOCKS as HOSTILE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import incept_dsl
from incept_dsl.backends.figure.blocks import BlocksOptions, blocks_drawing
from incept_dsl.backends.figure.tikz import font_family, latex_escape, tikz_source
from incept_dsl.ir.graph import Graph

PDFLATEX = shutil.which("pdflatex")
needs_pdflatex = pytest.mark.skipif(
    PDFLATEX is None, reason="pdflatex is not installed (a TeX distribution is needed)"
)
HOSTILE_TITLE = "A_b & c% #1 $x$ ~^ {y} \\end{document} <&\"'> | Résumé 字 — 3×3"


#: How a reader takes the escapes back (written here independently of `tikz._LATEX`).
_UNESCAPE = [
    (r"\textbackslash{}", "\\"),
    (r"\textasciitilde{}", "~"),
    (r"\textasciicircum{}", "^"),
    (r"\textless{}", "<"),
    (r"\textgreater{}", ">"),
    (r"\textbar{}", "|"),
    (r"$\times$", "×"),
    (r"$\cdot$", "·"),
    (r"\ldots{}", "…"),
    (r"\'{e}", "é"),
    ("-{}", "-"),
    ("---", "—"),
    (r"\{", "{"),
    (r"\}", "}"),
    (r"\_", "_"),
    (r"\%", "%"),
    (r"\&", "&"),
    (r"\#", "#"),
    (r"\$", "$"),
]


@cache
def graph(path: str, model: str) -> Graph:
    return incept_dsl.load(path, model=model).figure_graph(0, True)


def unescape(tex: str) -> str:
    """Read LaTeX text made of the escapes above back into plain text, left to right."""
    out, i = [], 0
    while i < len(tex):
        for escaped, plain in _UNESCAPE:
            if tex.startswith(escaped, i):
                out.append(plain)
                i += len(escaped)
                break
        else:
            assert tex[i] not in "\\{}_%&#$~^<>|", f"unescaped {tex[i]!r} in {tex!r}"
            out.append(tex[i])
            i += 1
    return "".join(out)


def node_texts(src: str) -> list[str]:
    """The text of every `\\node` (the braces after `at (x,y)`, up to the line's end)."""
    return [
        m[1] for m in re.finditer(r"\\node\[[^\n]*?\] at \([-\d.]+,[-\d.]+\) \{(.*)\};$", src, re.M)
    ]


# ---- escaping -----------------------------------------------------------------------------------
def test_latex_specials_are_escaped() -> None:
    assert latex_escape("a_b") == r"a\_b"
    assert latex_escape("50% & #1 $") == r"50\% \& \#1 \$"
    assert latex_escape("{~^\\}") == r"\{\textasciitilde{}\textasciicircum{}\textbackslash{}\}"
    assert latex_escape("3×3 Conv, 64 ↑2") == r"3$\times$3 Conv, 64 $\uparrow$2"
    assert latex_escape("Résumé\n字") == r"R\'{e}sum\'{e} ?"
    assert latex_escape("a--b") == "a-{}-{}b"
    assert latex_escape(HOSTILE_TITLE).isascii()


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(codec="ascii") | st.sampled_from("é×·…—"), max_size=40))
def test_escaping_round_trips_and_leaves_no_special(text: str) -> None:
    expected = "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in text)
    assert unescape(latex_escape(text)) == expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=30)
)
def test_hostile_titles_come_out_escaped_in_the_tikz(title: str) -> None:
    g = incept_dsl.loads(HOSTILE, name="hostile.incept").figure_graph(0, True)
    src = tikz_source(g, BlocksOptions(title=title))
    texts = [unescape(t) for t in node_texts(src)]
    assert title in texts
    assert any("c_d" in t and "a_b" in t for t in texts)
    assert src.isascii()
    body = src.split(r"\begin{document}")[1]
    assert body.count(r"\end{document}") == 1 and body.count(r"\end{tikzpicture}") == 1


# ---- the document -------------------------------------------------------------------------------
def test_standalone_and_bare_forms() -> None:
    g = graph("googlenet.incept", "googlenet")
    full = tikz_source(g, BlocksOptions(width_in=7))
    bare = tikz_source(g, BlocksOptions(width_in=7, standalone=False))
    assert full.startswith("% googlenet") and r"\documentclass{article}" in full
    assert r"\usepackage{tikz}" in full and full.rstrip().endswith(r"\end{document}")
    assert r"\documentclass" not in bare and bare.rstrip().endswith(r"\end{tikzpicture}")
    assert bare.split("\n", 1)[1] in full  # the same picture
    assert full == tikz_source(
        graph.__wrapped__("googlenet.incept", "googlenet"), BlocksOptions(width_in=7)
    )


def test_the_picture_has_the_drawing_s_size() -> None:
    g = graph("unet.incept", "unet")
    d = blocks_drawing(g, BlocksOptions(width_in=6))
    src = tikz_source(g, BlocksOptions(width_in=6))
    assert rf"\useasboundingbox (0,0) rectangle ({d.width:.2f},{d.height:.2f});" in src
    assert f"{d.width:.2f}" == "432.00"
    # one \filldraw per box face, as many as the drawing's polygons
    assert src.count(r"\filldraw") == sum(1 for s in d.shapes if type(s).__name__ == "Polygon")


@pytest.mark.parametrize(
    ("font", "family"),
    [
        ("Helvetica", "sans"),
        ("Arial", "sans"),
        ("Times", "serif"),
        ("Courier New", "mono"),
        ("Whatever", "sans"),
    ],
)
def test_fonts_map_to_document_families(font: str, family: str) -> None:
    assert font_family(font) == family
    src = tikz_source(graph("resnet.incept", "resnet18"), BlocksOptions(font=font))
    assert {"sans": r"\sffamily", "serif": r"\rmfamily", "mono": r"\ttfamily"}[family] in src
    assert font not in src


# ---- real LaTeX runs ----------------------------------------------------------------------------
def _pdflatex(tmp_path: Path, name: str, source: str) -> Path:
    (tmp_path / f"{name}.tex").write_text(source, encoding="utf-8")
    run = subprocess.run(
        [PDFLATEX or "pdflatex", "-halt-on-error", "-interaction=nonstopmode", f"{name}.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-2000:]
    pdf = tmp_path / f"{name}.pdf"
    assert pdf.stat().st_size > 1000
    return pdf


@needs_pdflatex
@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("googlenet.incept", "googlenet"),
        ("resnet.incept", "resnet50"),
        ("unet.incept", "unet"),
        ("vit.incept", "vit_b_16"),
    ],
)
def test_pdflatex_compiles_the_tikz(tmp_path: Path, path: str, model: str) -> None:
    source = tikz_source(graph(path, model), BlocksOptions(width_in=7, title=HOSTILE_TITLE))
    # uncompressed objects, so that the page size can be read from the PDF
    pdf = _pdflatex(tmp_path, model, "\\pdfobjcompresslevel=0\\pdfcompresslevel=0\n" + source)
    log = (tmp_path / f"{model}.log").read_text(encoding="latin-1")
    assert "Overfull" not in log and "Missing character" not in log
    # the page is the picture and a 1 bp margin: 7 in = 504 bp wide
    box = re.search(rb"/MediaBox ?\[0 0 ([\d.]+) ([\d.]+)\]", pdf.read_bytes())
    assert box is not None
    assert float(box[1]) == pytest.approx(7 * 72 + 2, abs=0.05)


@needs_pdflatex
def test_the_bare_picture_inputs_into_a_document(tmp_path: Path) -> None:
    g = incept_dsl.loads(HOSTILE, name="hostile.incept").figure_graph(0, True)
    bare = tikz_source(g, BlocksOptions(standalone=False, title=HOSTILE_TITLE, font="Times"))
    (tmp_path / "fig.tex").write_text(bare, encoding="utf-8")
    doc = "\n".join(
        [
            r"\documentclass{article}",
            r"\usepackage{tikz}",
            r"\begin{document}",
            r"Figure: \input{fig.tex}",
            r"\end{document}",
        ]
    )
    _pdflatex(tmp_path, "doc", doc)
