"""The drawing primitives of the blocks view (polygons, polylines, text) and the operations on
them the layout needs: the faces of an obliquely projected box, arrowheads, bounding boxes (text
measured by an estimate of its advance), moving and zooming.

Coordinates are points with y pointing up; the writers (`blocks` for SVG, `tikz`) turn them into
their own conventions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from incept_dsl.backends.figure.style import shade

#: The oblique projection of the depth axis: a unit of depth moves a point this much right and
#: this much up (45°).
OBLIQUE = math.cos(math.pi / 4)
ARROW_HEAD = 3.5
#: The advance of an average character, as a fraction of the font size (Helvetica is ~0.52).
CHAR_ADVANCE = 0.56

Point = tuple[float, float]


@dataclass(frozen=True)
class Polygon:
    """A closed polygon, filled and stroked (`dashed` for what only aux heads use)."""

    points: tuple[Point, ...]
    fill: str
    stroke: str
    dashed: bool = False


@dataclass(frozen=True)
class Line:
    """An open polyline."""

    points: tuple[Point, ...]
    stroke: str
    dashed: bool = False
    width: float = 0.6


@dataclass(frozen=True)
class Label:
    """One line of text whose baseline passes through (x, y); `anchor` ("start", "middle",
    "end") says which end of the line is there, `rotate` (0 or 90, counter-clockwise) its
    direction."""

    x: float
    y: float
    text: str
    size: float
    color: str
    anchor: str = "start"
    rotate: int = 0
    bold: bool = False


Shape = Polygon | Line | Label


def box_faces(
    x: float, y: float, w: float, h: float, depth: float, fill: str, stroke: str, dashed: bool
) -> list[Polygon]:
    """The front, top and right faces of a box whose front face has its lower left corner at
    (x, y), `w` wide and `h` high, receding `depth` (already foreshortened) at 45°."""
    dx = dy = depth * OBLIQUE
    front = ((x, y), (x + w, y), (x + w, y + h), (x, y + h))
    top = ((x, y + h), (x + w, y + h), (x + w + dx, y + h + dy), (x + dx, y + h + dy))
    right = ((x + w, y), (x + w + dx, y + dy), (x + w + dx, y + h + dy), (x + w, y + h))
    return [
        Polygon(front, fill, stroke, dashed),
        Polygon(top, shade(fill, 0.10), stroke, dashed),
        Polygon(right, shade(fill, 0.22), stroke, dashed),
    ]


def arrow(points: list[Point], color: str, dashed: bool = False) -> list[Shape]:
    """A polyline ending in a filled arrowhead at its last point."""
    (x0, y0), (x1, y1) = points[-2], points[-1]
    length = math.hypot(x1 - x0, y1 - y0) or 1.0
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    head = min(ARROW_HEAD, length * 0.8)
    bx, by = x1 - ux * head, y1 - uy * head
    px, py = -uy * head * 0.45, ux * head * 0.45
    body = Line((*points[:-1], (bx, by)), color, dashed)
    tip = Polygon(((x1, y1), (bx + px, by + py), (bx - px, by - py)), color, color)
    return [body, tip]


def text_width(label: Label) -> float:
    """An estimate of the advance of the label's text."""
    return len(label.text) * label.size * (CHAR_ADVANCE + (0.04 if label.bold else 0.0))


def bounds(shapes: list[Shape]) -> tuple[float, float, float, float]:
    """(min x, min y, max x, max y) of `shapes`, text by its estimated extent."""
    xs: list[float] = []
    ys: list[float] = []
    for s in shapes:
        if isinstance(s, Label):
            length = text_width(s)
            lo = {"start": 0.0, "middle": -length / 2, "end": -length}[s.anchor]
            if s.rotate == 90:
                xs += [s.x - s.size, s.x + 0.25 * s.size]
                ys += [s.y + lo, s.y + lo + length]
            else:
                xs += [s.x + lo, s.x + lo + length]
                ys += [s.y - 0.25 * s.size, s.y + s.size]
        else:
            xs += [p[0] for p in s.points]
            ys += [p[1] for p in s.points]
    if not xs:
        return 0.0, 0.0, 0.0, 0.0
    return min(xs), min(ys), max(xs), max(ys)


def transform(shapes: list[Shape], dx: float, dy: float, zoom: float) -> list[Shape]:
    """`shapes` moved by (dx, dy), then scaled by `zoom` about the origin (text sizes too)."""

    def pt(p: Point) -> Point:
        return ((p[0] + dx) * zoom, (p[1] + dy) * zoom)

    out: list[Shape] = []
    for s in shapes:
        if isinstance(s, Label):
            x, y = pt((s.x, s.y))
            out.append(replace(s, x=x, y=y, size=s.size * zoom))
        elif isinstance(s, Line):
            out.append(replace(s, points=tuple(pt(p) for p in s.points), width=s.width * zoom))
        else:
            out.append(replace(s, points=tuple(pt(p) for p in s.points)))
    return out
