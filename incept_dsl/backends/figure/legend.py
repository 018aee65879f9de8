"""A figure's title (`title_attrs`) and legend (`legend_label`): the colour of each op family
drawn, and the conventions its labels use (see `wording`).

Every string that reaches the DOT text here is HTML-escaped (`esc`): a title is the user's text.
"""

from __future__ import annotations

import html

from incept_dsl.backends.figure.style import Theme

#: What a family's colour stands for, in the legend (in this order).
FAMILY_NAMES = {
    "io": "input / output",
    "conv": "convolution",
    "linear": "fully connected",
    "pool": "pooling",
    "norm": "normalization",
    "act": "activation",
    "join": "concat / sum / product",
    "attention": "attention",
    "token": "learned token table",
    "reshape": "reshape / dropout",
    "other": "other",
    "block": "block or repeat (collapsed)",
}


def esc(text: str) -> str:
    """`text` safe inside a Graphviz HTML label: markup characters as entities, control
    characters (which Graphviz refuses) as "?"."""
    return html.escape("".join(c if c.isprintable() else "?" for c in text), quote=True)


def title_attrs(title: str | None, font: str, legend: str | None = None) -> dict[str, str]:
    """Graph attributes that put `title` (in a larger size of `font`) and the `legend` table
    (`legend_label`, without its outer brackets) over the figure: the label of the root graph,
    which moves no box."""
    rows = []
    if title:
        rows.append(f'<TR><TD><FONT POINT-SIZE="14">{esc(title)}</FONT></TD></TR>')
    if legend:
        rows.append(f"<TR><TD>{legend}</TD></TR>")
    return {
        "label": f'<<TABLE BORDER="0" CELLSPACING="4">{"".join(rows)}</TABLE>>',
        "labelloc": "t",
        "labeljust": "c",
        "fontname": font,
    }


def conventions(labels: list[str], *, circles: set[str], opts: dict[str, bool]) -> list[str]:
    """The conventions that the labels drawn use, one line each. `circles`: the joins drawn as
    circles ("add", "mul"); `opts`: "shapes", "costs", "norm_act", "aux", "convs"."""
    text = " ".join(labels)
    out: list[str] = []
    if opts.get("convs") and not opts.get("norm_act"):
        out.append("a conv box includes its batch norm and ReLU; other activations are named")
    if "(no act.)" in text:
        out.append("(no act.): no activation after the conv (the papers' “Linear”)")
    if " /" in text or " V" in text:
        out.append("/2: stride 2; V: valid (no) padding")
    if "↑" in text:
        out.append("↑2: upsampling by 2")
    if "add" in circles:
        out.append("+: element-wise sum (residual)")
    if "mul" in circles:
        out.append("×: element-wise product (gate)")
    if opts.get("shapes"):
        out.append(
            "shapes: channels×height×width" + ("; tokens×width" if opts.get("tokens") else "")
        )
    if opts.get("costs"):
        out.append("params: trainable parameters; MACs: multiply-adds per sample")
    if opts.get("aux"):
        out.append("dashed: used only by the auxiliary (training) heads")
    return out


def legend_label(families: list[str], lines: list[str], theme: Theme) -> str:
    """The legend as one HTML table (to go inside an HTML label): a swatch and a name per
    family drawn, then the conventions."""
    rows = []
    for f in (f for f in FAMILY_NAMES if f in families):
        rows.append(
            f'<TR><TD WIDTH="22" HEIGHT="12" BGCOLOR="{theme.fill[f]}" '
            f'COLOR="{theme.border[f]}"></TD>'
            f'<TD ALIGN="LEFT" BORDER="0">{esc(FAMILY_NAMES[f])}</TD></TR>'
        )
    for line in lines:
        rows.append(
            f'<TR><TD COLSPAN="2" ALIGN="LEFT" BORDER="0">'
            f'<FONT POINT-SIZE="9" COLOR="{theme.detail}">{esc(line)}</FONT></TD></TR>'
        )
    return (
        '<TABLE BORDER="1" CELLBORDER="1" CELLSPACING="3" CELLPADDING="2" COLOR="#A0A0A0">'
        + "".join(rows)
        + "</TABLE>"
    )
