"""Where the blocks view puts things: the main path as a row of 3-D boxes left to right (front
faces centred on one line, captions rotated underneath, aligned), arrows between neighbours,
skip connections between tensors further apart as arrows over the boxes (nested by length), the
aux heads as a raised row of dashed boxes above the tensor they branch from, the heads' names
after the boxes they come from, and the title on top.

`drawing` scales the boxes so that the whole drawing is `width_in` wide: text, gaps and
arrowheads keep their size while the boxes grow or shrink; when even tiny boxes do not fit, the
whole drawing (text included) is zoomed down to the width.

Guarantees: the same model and options give the same `Drawing`; every coordinate is in points,
y up, inside (0, 0)–(width, height).
"""

from __future__ import annotations

from dataclasses import dataclass

from incept_dsl.backends.figure.blocks_model import DEPTH_FACTOR, SLAB, Model, Tensor, build_model
from incept_dsl.backends.figure.blocks_options import BlocksOptions
from incept_dsl.backends.figure.blocks_shapes import (
    CHAR_ADVANCE,
    OBLIQUE,
    Label,
    Shape,
    arrow,
    bounds,
    box_faces,
    transform,
)
from incept_dsl.backends.figure.style import THEMES, Theme
from incept_dsl.ir.graph import Graph

NAME_PT = 7.0
SHAPE_PT = 6.0
TITLE_PT = 10.0
GAP_MIN = 9.0  # between neighbouring boxes (room for the arrow)
ARC_GAP = 7.0  # from the highest box under a skip arrow to the arrow
AUX_GAP = 16.0  # from the highest skip arrow (or box) to the aux row
MARGIN = 4.0
S_MIN, S_MAX = 0.05, 8.0


@dataclass(frozen=True)
class Drawing:
    """A finished drawing: its size in points and its shapes in painting order."""

    width: float
    height: float
    shapes: tuple[Shape, ...]
    font: str
    title: str | None


@dataclass
class _Placed:
    """A tensor's box at its place: the front face's lower left corner, its size (scaled), the
    projected depth offset; the item (slab included) spans `x0`..`x1`."""

    t: Tensor
    x0: float
    x1: float
    x: float
    y: float
    w: float
    h: float
    dz: float

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def top(self) -> float:
        return self.y + self.h + self.dz

    def top_centre(self) -> tuple[float, float]:
        """The middle of the front face's top edge (never hidden by the next box)."""
        return self.x + self.w / 2, self.y + self.h


class _Layout:
    """The drawing at one scale `s` of the boxes (see `drawing`)."""

    def __init__(self, model: Model, opt: BlocksOptions, s: float) -> None:
        self.model, self.opt, self.s = model, opt, s
        self.theme: Theme = THEMES[opt.theme]
        self.cap_w = 1.15 * (NAME_PT + (SHAPE_PT if opt.shapes else 0.0)) + 3.0
        self.shapes: list[Shape] = []
        self.placed: dict[str, _Placed] = {}
        self.arcs_at: list[tuple[float, float, float]] = []  # skip arrows: x span, height

    def extent(self, t: Tensor) -> float:
        return self.s * (t.w + (SLAB if t.down else 0.0))

    def run(self) -> list[Shape]:
        main = self.model.main
        x = 0.0
        for i, t in enumerate(main):
            if i:
                ext = (self.extent(main[i - 1]) + self.extent(t)) / 2
                x += self.extent(main[i - 1]) + max(GAP_MIN, self.cap_w - ext)
            self.place(t, x, -self.s * t.h / 2)
        self.links()
        roof = self.arcs()
        self.aux_row(roof)
        self.captions()
        self.heads()
        return self.shapes

    def place(self, t: Tensor, x0: float, y: float) -> _Placed:
        """Draw `t`'s box (and slab) with its item beginning at `x0`, the box's bottom at `y`
        (a slab is centred on the box's height)."""
        s, theme = self.s, self.theme
        w, h, depth = s * t.w, s * t.h, s * t.d * DEPTH_FACTOR
        x = x0 + (s * SLAB if t.down == "front" else 0.0)
        stroke = theme.aux if t.aux else theme.border[t.family]
        box = box_faces(x, y, w, h, depth, theme.fill[t.family], stroke, t.aux)
        if t.down:
            # painted back to front: a slab in front of the box first, one after it last (it
            # stands before the box's receding side)
            sx, sh = (x0 if t.down == "front" else x + w), s * t.sh
            edge = theme.aux if t.aux else theme.border["pool"]
            slab = box_faces(
                sx,
                y + (h - sh) / 2,
                s * SLAB,
                sh,
                s * t.sd * DEPTH_FACTOR,
                theme.fill["pool"],
                edge,
                t.aux,
            )
            box = slab + box if t.down == "front" else box + slab
        self.shapes += box
        p = _Placed(t, x0, x0 + self.extent(t), x, y, w, h, depth * OBLIQUE)
        self.placed[t.key] = p
        return p

    def links(self) -> None:
        """Arrows between neighbours on the main path that feed one another."""
        main = self.model.main
        for prev, t in zip(main, main[1:], strict=False):
            if prev.key in t.preds:
                a, b = self.placed[prev.key], self.placed[t.key]
                self.shapes += arrow([(a.x1, 0.0), (b.x0, 0.0)], self.theme.edge)

    def arcs(self) -> float:
        """Skip connections (a tensor read further down the main path) as arrows over the boxes,
        shorter ones lower; return the height of the highest (or of the highest box)."""
        main = self.model.main
        index = {t.key: i for i, t in enumerate(main)}
        spans = [
            (index[p], j)
            for j, t in enumerate(main)
            for p in t.preds
            if p in index and index[p] != j - 1
        ]
        spans.sort(key=lambda ij: (abs(ij[1] - ij[0]), ij))
        roof = max((p.top for p in self.placed.values()), default=0.0)
        done: list[tuple[float, float, float]] = []
        for i, j in spans:
            a, b = self.placed[main[i].key], self.placed[main[j].key]
            (sx, sy), (ex, ey) = a.top_centre(), b.top_centre()
            lo, hi = min(sx, ex), max(sx, ex)
            under = [p.top for p in self.placed.values() if p.x0 < hi and p.x1 + p.dz > lo]
            y = max(under, default=roof) + ARC_GAP
            for dlo, dhi, dy in done:
                if dlo <= hi and lo <= dhi:
                    y = max(y, dy + ARC_GAP)
            done.append((lo, hi, y))
            self.arcs_at.append((lo, hi, y))
            roof = max(roof, y)
            self.shapes += arrow([(sx, sy), (sx, y), (ex, y), (ex, ey)], self.theme.edge)
        return roof

    def aux_chains(self) -> list[tuple[_Placed, list[Tensor]]]:
        """The aux tensors in chains (each tensor after the aux tensor it reads), each with the
        main tensor it branches from, ordered left to right by that tensor."""
        chains: list[tuple[_Placed, list[Tensor]]] = []
        chain_of: dict[str, list[Tensor]] = {}
        for t in self.model.aux:
            aux = [p for p in t.preds if p in chain_of]
            main = [self.placed[p] for p in t.preds if p in self.placed]
            if aux:
                chain_of[aux[-1]].append(t)
                chain_of[t.key] = chain_of[aux[-1]]
            elif main:
                chains.append((main[-1], [t]))
                chain_of[t.key] = chains[-1][1]
        chains.sort(key=lambda c: c[0].x0)
        return chains

    def aux_row(self, roof: float) -> None:
        """The aux tensors as a row of dashed boxes above everything else, each chain starting
        over the main tensor it branches from (or right of the chain before), an arrow up into
        it; room is left for the heads' names after each chain."""
        base, end = roof + AUX_GAP, float("-inf")
        named = {key: name for name, _, key in self.model.heads}
        for src, chain in self.aux_chains():
            (sx, sy), mid = src.top_centre(), (roof + base) / 2
            x0 = max(sx - self.extent(chain[0]) / 2, end + self.cap_w)
            prev: _Placed | None = None
            for t in chain:
                if prev is not None:
                    x0 = prev.x1 + max(GAP_MIN, self.cap_w - (self.extent(t) + prev.w) / 2)
                p = self.place(t, x0, base)
                if prev is None:
                    pts = [(sx, sy), (sx, mid), (p.cx, mid), (p.cx, base)]
                else:
                    pts = [(prev.x1, base + prev.h / 2), (p.x0, base + prev.h / 2)]
                self.shapes += arrow(pts, self.theme.aux, dashed=True)
                prev = p
            if prev is not None:
                label = len(named.get(prev.t.key, "")) * NAME_PT * CHAR_ADVANCE
                end = prev.x1 + prev.dz + (14 + label if label else 0.0)

    def captions(self) -> None:
        """Each tensor's name (and shape) rotated under its box; over it in the aux row."""
        low = min((p.y for p in self.placed.values() if not p.t.aux), default=0.0) - 3.0
        for p in self.placed.values():
            lines = [(p.t.label, NAME_PT, self.theme.text)]
            if self.opt.shapes:
                lines.append((p.t.shape_text, SHAPE_PT, self.theme.detail))
            x = p.cx - self.cap_w / 2 + 1.5
            for text, size, color in lines:
                x += 1.15 * size
                if p.t.aux:
                    y, anchor = p.top + 3.0, "start"
                else:
                    y, anchor = low, "end"
                self.shapes.append(Label(x - 0.3 * size, y, text, size, color, anchor, 90))

    def heads(self) -> None:
        """Each head's name after the box it reads (above it when a box follows)."""
        last = {self.model.main[-1].key} if self.model.main else set()
        last |= {t.key for t in self.model.aux}
        for name, kind, key in self.model.heads:
            p = self.placed.get(key)
            if p is None:
                continue
            color = self.theme.aux if kind == "aux" else self.theme.edge
            mid = p.y + p.h / 2
            if key in last:
                self.shapes += arrow([(p.x1, mid), (p.x1 + p.dz + 12, mid)], color)
                x, y, anchor = p.x1 + p.dz + 14, mid - NAME_PT / 3, "start"
            else:
                (cx, cy) = p.top_centre()
                over = [y for lo, hi, y in self.arcs_at if lo <= cx <= hi]
                top = max([p.top, *over]) + 4  # above the skip arrows passing over it
                self.shapes += arrow([(cx, cy), (cx, top + 6)], color)
                x, y, anchor = cx, top + 8, "middle"
            self.shapes.append(Label(x, y, name, NAME_PT, self.theme.text, anchor))


def _finish(shapes: list[Shape], opt: BlocksOptions, theme: Theme) -> list[Shape]:
    """`shapes` with the title on top."""
    if opt.title:
        x0, _, x1, y1 = bounds(shapes)
        title = Label((x0 + x1) / 2, y1 + 8.0, opt.title, TITLE_PT, theme.text, "middle", bold=True)
        shapes = [*shapes, title]
    return shapes


def _at_scale(model: Model, opt: BlocksOptions, s: float) -> tuple[list[Shape], float]:
    shapes = _finish(_Layout(model, opt, s).run(), opt, THEMES[opt.theme])
    x0, _, x1, _ = bounds(shapes)
    return shapes, x1 - x0 + 2 * MARGIN


def drawing(graph: Graph, options: BlocksOptions) -> Drawing:
    """The blocks view of `graph` (see the module docstring)."""
    model = build_model(graph, options.aux)
    s = 1.0
    if options.width_in is not None:
        target = options.width_in * 72.0
        lo, hi = S_MIN, S_MAX
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if _at_scale(model, options, mid)[1] <= target else (lo, mid)
        s = lo
    shapes, _ = _at_scale(model, options, s)
    x0, y0, x1, y1 = bounds(shapes)
    width, height = x1 - x0 + 2 * MARGIN, y1 - y0 + 2 * MARGIN
    zoom = 1.0 if options.width_in is None else options.width_in * 72.0 / width
    shapes = transform(shapes, MARGIN - x0, MARGIN - y0, zoom)
    return Drawing(width * zoom, height * zoom, tuple(shapes), options.font, options.title)
