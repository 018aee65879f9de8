"""The PlotNeuralNet-style view ("blocks"): a model from stem to head as a row of 3-D boxes, one
per tensor as the papers count them, as SVG (`blocks_svg`) or TikZ (`tikz.tikz_source`).

A box's height and depth follow the tensor's H and W, its width the channels C (monotone scales
with a floor, so 7×7 stays visible); poolings are thin slabs in the pool colour, vectors thin
tall bars, token tensors L×D drawn as their √L×√L grid; skip connections arc over the boxes,
aux heads sit in a dashed row above. `blocks_model` decides what is drawn, `blocks_geometry`
where, `blocks_shapes` holds the primitives; this module writes SVG.

Guarantees: the SVG is built with `xml.etree.ElementTree`, so every text from the program or
the options is escaped (characters XML cannot hold become U+FFFD); the same graph and options
give byte-identical SVG; the `width` attribute is `width_in` inches when it is given.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from incept_dsl.backends.figure.blocks_geometry import Drawing, drawing
from incept_dsl.backends.figure.blocks_options import BlocksOptions as BlocksOptions
from incept_dsl.backends.figure.blocks_shapes import Label, Line, Polygon
from incept_dsl.ir.graph import Graph

SVG_NS = "http://www.w3.org/2000/svg"
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def num(v: float) -> str:
    """A coordinate with two decimals, without a negative zero."""
    text = f"{v:.2f}"
    return "0.00" if text == "-0.00" else text


def xml_text(text: str) -> str:
    """`text` with the characters XML 1.0 cannot hold replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def blocks_drawing(graph: Graph, options: BlocksOptions) -> Drawing:
    """The geometry of the blocks view (shapes in points, y up), shared by SVG and TikZ."""
    return drawing(graph, options)


def blocks_svg(graph: Graph, options: BlocksOptions) -> str:
    """The blocks view of `graph` as an SVG document (see the module docstring)."""
    d = drawing(graph, options)
    root = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "version": "1.1",
            "width": f"{num(d.width / 72)}in",
            "height": f"{num(d.height / 72)}in",
            "viewBox": f"0 0 {num(d.width)} {num(d.height)}",
            "font-family": xml_text(d.font),
        },
    )
    ET.SubElement(root, "title").text = xml_text(d.title or graph.name)
    ET.SubElement(root, "rect", {"width": "100%", "height": "100%", "fill": "#FFFFFF"})
    flip = d.height
    for s in d.shapes:
        if isinstance(s, Polygon):
            attrs = {
                "points": " ".join(f"{num(x)},{num(flip - y)}" for x, y in s.points),
                "fill": s.fill,
                "stroke": s.stroke,
                "stroke-width": "0.5",
                "stroke-linejoin": "round",
            }
            if s.dashed:
                attrs["stroke-dasharray"] = "2,1.5"
            ET.SubElement(root, "polygon", attrs)
        elif isinstance(s, Line):
            attrs = {
                "points": " ".join(f"{num(x)},{num(flip - y)}" for x, y in s.points),
                "fill": "none",
                "stroke": s.stroke,
                "stroke-width": num(s.width),
            }
            if s.dashed:
                attrs["stroke-dasharray"] = "3,2"
            ET.SubElement(root, "polyline", attrs)
        else:
            _text(root, s, flip)
    ET.indent(root, space=" ")
    return ET.tostring(root, encoding="unicode", xml_declaration=False) + "\n"


def _text(root: ET.Element, s: Label, flip: float) -> None:
    attrs = {
        "font-size": num(s.size),
        "fill": s.color,
        "text-anchor": s.anchor,
    }
    if s.rotate:
        attrs["transform"] = f"translate({num(s.x)},{num(flip - s.y)}) rotate(-{s.rotate})"
    else:
        attrs.update(x=num(s.x), y=num(flip - s.y))
    if s.bold:
        attrs["font-weight"] = "bold"
    ET.SubElement(root, "text", attrs).text = xml_text(s.text)


__all__ = ["BlocksOptions", "blocks_drawing", "blocks_svg"]
