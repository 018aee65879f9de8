"""The blocks view (see `blocks`) as TikZ/PGF source: plain TikZ, no PlotNeuralNet package; each
box face a `\\filldraw` of the same oblique projection as the SVG, text in `\\node`s.

`standalone=True` gives a complete document (`article` with `geometry` sizing the page to the
picture, so the page is the figure; `standalone.cls` is missing from many TeX installations),
`False` a bare `tikzpicture` to `\\input` (it needs `\\usepackage{tikz}`, which loads `xcolor`).

The font: "Helvetica" (and Arial, and any name with "sans") is the document's sans-serif family
(`\\sffamily`), Times (or any serif name) its roman family, Courier (or a "mono" name) its
typewriter family; the complete document loads no font package (Computer Modern, which every
TeX installation has), and a document that `\\input`s the picture picks the faces.

Guarantees: every text from the program or the options goes through `latex_escape` (the ten
LaTeX specials, `<`, `>`, `|`, the symbols the labels use, accented letters as accent commands;
any other character becomes "?"), so the source is ASCII; the same graph and options give
byte-identical source; the picture is the SVG's size (coordinates in PostScript points, `bp`).
"""

from __future__ import annotations

import unicodedata

from incept_dsl.backends.figure.blocks import num
from incept_dsl.backends.figure.blocks_geometry import Drawing, drawing
from incept_dsl.backends.figure.blocks_options import BlocksOptions
from incept_dsl.backends.figure.blocks_shapes import Label, Line, Polygon
from incept_dsl.ir.graph import Graph

#: Replacements for the characters LaTeX reads as commands, and for the symbols labels use.
_LATEX = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "_": r"\_",
    "%": r"\%",
    "&": r"\&",
    "#": r"\#",
    "$": r"\$",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "×": r"$\times$",
    "·": r"$\cdot$",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "→": r"$\rightarrow$",
    "…": r"\ldots{}",
    "–": "--",
    "—": "---",
    "\u00a0": "~",
    "-": "-{}",  # no "--" ligature out of two names' hyphens
}

_FAMILIES = {"sans": r"\sffamily", "serif": r"\rmfamily", "mono": r"\ttfamily"}
#: Accents pdflatex sets on any letter in its default (OT1) encoding, by combining character.
_ACCENTS = {
    "\u0300": "`",
    "\u0301": "'",
    "\u0302": "^",
    "\u0303": "~",
    "\u0308": '"',
    "\u0304": "=",
    "\u0307": ".",
    "\u030a": "r",
    "\u0327": "c",
    "\u030c": "v",
}


def latex_escape(text: str) -> str:
    """`text` as ASCII LaTeX that sets it literally: specials escaped, control characters as
    spaces, accented Latin letters as accent commands (`\\'{e}`), any other character "?"."""
    out: list[str] = []
    for ch in text:
        if ch in _LATEX:
            out.append(_LATEX[ch])
        elif ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0:
            out.append(" ")
        elif ord(ch) < 0x7F:
            out.append(ch)
        else:
            out.append(_accented(ch))
    return "".join(out)


def _accented(ch: str) -> str:
    """A letter with one accent as LaTeX's accent command on it (`é`: `\\'{e}`), else "?"."""
    parts = unicodedata.normalize("NFD", ch)
    if len(parts) == 2 and parts[0].isascii() and parts[0].isalpha() and parts[1] in _ACCENTS:
        return f"\\{_ACCENTS[parts[1]]}{{{parts[0]}}}"
    return "?"


def font_family(font: str) -> str:
    """ "sans", "serif" or "mono": the document family that stands for `font`."""
    low = font.lower()
    if "mono" in low or "courier" in low or "consol" in low:
        return "mono"
    if "sans" in low or "helvetica" in low or "arial" in low:
        return "sans"
    if any(w in low for w in ("times", "serif", "roman", "georgia", "palatino", "garamond")):
        return "serif"
    return "sans"


def _color(hexcolor: str) -> str:
    return "ib" + hexcolor.lstrip("#").upper()


def _path(points: tuple[tuple[float, float], ...]) -> str:
    return " -- ".join(f"({num(x)},{num(y)})" for x, y in points)


def tikz_picture(d: Drawing) -> list[str]:
    """The lines of the `tikzpicture` of drawing `d` (colours defined inside it)."""
    family = _FAMILIES[font_family(d.font)]
    colors: list[str] = []
    for s in d.shapes:
        used = (
            (s.fill, s.stroke)
            if isinstance(s, Polygon)
            else (s.color,)
            if isinstance(s, Label)
            else (s.stroke,)
        )
        colors += [c for c in used if c not in colors]
    lines = [r"\begin{tikzpicture}[x=1bp, y=1bp, line join=round]"]
    lines += [rf"\definecolor{{{_color(c)}}}{{HTML}}{{{c.lstrip('#').upper()}}}" for c in colors]
    lines.append(rf"\useasboundingbox (0,0) rectangle ({num(d.width)},{num(d.height)});")
    for s in d.shapes:
        if isinstance(s, Polygon):
            dash = ", dash pattern=on 2bp off 1.5bp" if s.dashed else ""
            lines.append(
                rf"\filldraw[fill={_color(s.fill)}, draw={_color(s.stroke)}, "
                rf"line width=0.5bp{dash}] {_path(s.points)} -- cycle;"
            )
        elif isinstance(s, Line):
            dash = ", dash pattern=on 3bp off 2bp" if s.dashed else ""
            lines.append(
                rf"\draw[draw={_color(s.stroke)}, line width={num(s.width)}bp{dash}] "
                rf"{_path(s.points)};"
            )
        else:
            lines.append(_node(s, family))
    lines.append(r"\end{tikzpicture}")
    return lines


def _node(s: Label, family: str) -> str:
    anchor = {"start": "base west", "middle": "base", "end": "base east"}[s.anchor]
    font = rf"\fontsize{{{num(s.size)}bp}}{{{num(s.size * 1.2)}bp}}\selectfont{family}"
    if s.bold:
        font += r"\bfseries"
    rotate = f", rotate={s.rotate}" if s.rotate else ""
    return (
        rf"\node[anchor={anchor}, inner sep=0pt, text={_color(s.color)}, font={font}{rotate}] "
        rf"at ({num(s.x)},{num(s.y)}) {{{latex_escape(s.text)}}};"
    )


def tikz_source(graph: Graph, options: BlocksOptions) -> str:
    """The blocks view of `graph` as TikZ source (see the module docstring)."""
    d = drawing(graph, options)
    picture = tikz_picture(d)
    comment = f"% {latex_escape(graph.name)}: blocks view drawn by incept-dsl"
    if not options.standalone:
        return "\n".join([comment, *picture]) + "\n"
    head = [
        comment,
        r"\documentclass{article}",
        r"\usepackage{tikz}",
        rf"\usepackage[paperwidth={num(d.width + 2)}bp, paperheight={num(d.height + 2)}bp, "
        r"margin=1bp]{geometry}",
        r"\pagestyle{empty}",
        r"\setlength{\parindent}{0pt}",
        r"\begin{document}",
        r"\noindent",
    ]
    return "\n".join([*head, *picture, r"\end{document}"]) + "\n"


__all__ = ["BlocksOptions", "latex_escape", "tikz_source"]
