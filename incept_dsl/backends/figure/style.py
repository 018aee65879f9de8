"""Figure themes: a fill and border colour per op family, and the node shape per family.

`default` uses the Okabe–Ito palette (Okabe & Ito 2008), which stays distinguishable under the
common colour-vision deficiencies; fills are light tints of it so black text stays readable.
`grayscale` is for print: grey levels per family, black borders, and the same shapes, so families
stay apart without colour.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The Okabe–Ito colours.
OKABE_ITO = {
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "black": "#000000",
}

#: Families (`incept_dsl.ir.ops.IROp.family`, plus "block" for a collapsed block or repeat).
FAMILIES = (
    "io",
    "conv",
    "norm",
    "linear",
    "pool",
    "act",
    "join",
    "reshape",
    "token",
    "attention",
    "other",
    "block",
)


def tint(color: str, amount: float) -> str:
    """`color` mixed with white: `amount` 0 gives white, 1 the colour itself."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    mix = [round(255 - (255 - c) * amount) for c in (r, g, b)]
    return "#{:02X}{:02X}{:02X}".format(*mix)


def shade(color: str, amount: float) -> str:
    """`color` mixed with black: `amount` 0 gives the colour, 1 black."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    mix = [round(c * (1 - amount)) for c in (r, g, b)]
    return "#{:02X}{:02X}{:02X}".format(*mix)


@dataclass(frozen=True)
class Theme:
    """Colours of one theme. `fill`/`border` are per family."""

    name: str
    fill: dict[str, str]
    border: dict[str, str]
    text: str = "#000000"
    detail: str = "#555555"  # the shape line under a box's name, edge labels
    edge: str = "#404040"
    aux: str = "#808080"  # arrows and borders of what only aux heads use
    cluster_fill: str = "#F5F5F5"
    cluster_border: str = "#A0A0A0"


def _okabe_ito() -> Theme:
    base = {
        "conv": OKABE_ITO["sky_blue"],
        "pool": OKABE_ITO["orange"],
        "norm": OKABE_ITO["yellow"],
        "linear": OKABE_ITO["bluish_green"],
        "act": OKABE_ITO["vermillion"],
        "join": OKABE_ITO["reddish_purple"],
        "block": OKABE_ITO["blue"],
        "reshape": "#999999",
        "other": "#999999",
    }
    fill = {f: tint(c, 0.45) for f, c in base.items()}
    fill["norm"] = tint(base["norm"], 0.6)
    fill["io"] = "#FFFFFF"
    border = {f: shade(c, 0.25) for f, c in base.items()}
    border["io"] = "#000000"
    # the learned tables of a transformer's input (class token, position embedding) in a light
    # vermillion, and attention in a light blue: lighter than the activations and the collapsed
    # blocks that share their hue, and told apart by their outlines too (`SHAPES`)
    fill["token"] = tint(OKABE_ITO["vermillion"], 0.25)
    border["token"] = shade(OKABE_ITO["vermillion"], 0.25)
    fill["attention"] = tint(OKABE_ITO["blue"], 0.25)
    border["attention"] = shade(OKABE_ITO["blue"], 0.25)
    return Theme("default", fill, border)


def _grayscale() -> Theme:
    fill = {
        "io": "#FFFFFF",
        "conv": "#D9D9D9",
        "pool": "#FFFFFF",
        "norm": "#F2F2F2",
        "linear": "#BFBFBF",
        "act": "#FFFFFF",
        "join": "#EDEDED",
        "reshape": "#FFFFFF",
        "token": "#F2F2F2",
        "attention": "#A6A6A6",
        "other": "#FFFFFF",
        "block": "#CCCCCC",
    }
    return Theme(
        "grayscale",
        fill,
        dict.fromkeys(fill, "#000000"),
        detail="#404040",
        edge="#000000",
        aux="#606060",
        cluster_fill="#FAFAFA",
        cluster_border="#707070",
    )


THEMES: dict[str, Theme] = {"default": _okabe_ito(), "grayscale": _grayscale()}

#: Node shape and style per family (both themes), so families differ in outline as well.
SHAPES: dict[str, tuple[str, str]] = {
    "io": ("box", "rounded"),
    "conv": ("box", ""),
    "linear": ("box", ""),
    "pool": ("box", "rounded"),
    "norm": ("box", "rounded"),
    "act": ("box", "rounded"),
    "join": ("box", ""),
    "reshape": ("box", "rounded"),
    "token": ("note", ""),  # a learned table: the folded corner of a sheet of numbers
    "attention": ("box", ""),
    "other": ("box", "rounded"),
    "block": ("box", ""),
}
