"""The Graphviz backend: figures for papers, as DOT text (`to_dot`) or rendered (`render`).

Views (`FigureOptions`):

- the network (default): one box per top-level block instance ("Inception (3a)" with its output
  shape 256×28×28 under the name), repeats collapsed ("Inception-A ×4"), the stem and head ops as
  their own boxes, aux heads as dashed side branches ending in their outputs;
- expanded (`expand=True`, or `depth=N`): blocks and repeats nested less than N deep are drawn as
  labelled clusters with every op inside, branches as lanes in the order they are written;
- one block (`block=NAME`): the first application of block NAME (or the instance with that scope
  path) drawn as the papers draw modules: its input at the bottom ("Previous layer"), branches
  side by side, "Filter concat" or the residual sum on top.

A box is an op as a reader counts layers: a conv with the batch norm and activation it was written
with is one box ("3×3 Conv, 192"); its tooltip (SVG) lists the IR ops it stands for. A dropout
with p = 0 is left out, and a concat feeding a concat of the same module is drawn as one "Filter
concat", as the papers do. A residual sum and a product are small "+" and "×" circles; the
C×1×1 gate a product broadcasts (squeeze-and-excitation) comes in on a bold arrow marked
"gate". Tensor shapes (`shapes=True`) are shown once per tensor: under the box
that produces it in the network view, and in the other views on its arrow, or under the box when
several arrows carry it. Colours per op family come from a colour-blind-safe palette (Okabe–Ito),
or grey levels with `theme="grayscale"`. `depth` and `expand` apply inside the block view too.

Guarantees: `to_dot` needs no Graphviz binary; the same model and options give byte-identical DOT
text, and `dot` turns that into byte-identical SVG. `render` raises `UsageError` naming how to
install Graphviz when the `dot` program is missing.

This module writes the DOT text; `structure` and `layout` decide what is drawn, `titles` and
`labels` what the boxes say, `options` holds `FigureOptions` and `render` runs Graphviz.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from incept_dsl.backends.figure.extras import branch_label, decorate
from incept_dsl.backends.figure.layout import Cluster, Edge, Figure, Item, layout
from incept_dsl.backends.figure.legend import esc

# The options and the Graphviz run live in `options` and `render`; their names stay importable
# from here as they always were (patch `RENDER_TIMEOUT_S` and the like on `render`, which reads
# them).
from incept_dsl.backends.figure.options import MAX_FONT_LENGTH as MAX_FONT_LENGTH
from incept_dsl.backends.figure.options import RANKDIRS as RANKDIRS
from incept_dsl.backends.figure.options import FigureOptions
from incept_dsl.backends.figure.page import PagePlan, plan_page
from incept_dsl.backends.figure.pick import pick_block
from incept_dsl.backends.figure.render import FORMATS, SUFFIXES, format_of, render
from incept_dsl.backends.figure.render import INSTALL_HINT as INSTALL_HINT
from incept_dsl.backends.figure.render import PNG_DPI as PNG_DPI
from incept_dsl.backends.figure.render import RENDER_TIMEOUT_S as RENDER_TIMEOUT_S
from incept_dsl.backends.figure.structure import Container, fuse_units, is_trivial, scope_tree
from incept_dsl.backends.figure.style import SHAPES, THEMES, Theme
from incept_dsl.backends.figure.titles import Labeler
from incept_dsl.backends.figure.wording import cost_line
from incept_dsl.errors import UsageError
from incept_dsl.ir.graph import Graph
from incept_dsl.ir.ops import OPS
from incept_dsl.text import fmt_shape


def figure(graph: Graph, options: FigureOptions) -> Figure:
    """The `Figure` (boxes, clusters, arrows) of `graph` under `options`. The graph is drawn as
    given: `Model.figure_graph` lowers it to `options.opt_level` and prunes the aux heads first
    when `options.aux` is False."""
    units = fuse_units(graph)
    root, _, by_path = scope_tree(graph, units)
    block = pick_block(graph, root, options.block) if options.block is not None else None
    return layout(graph, units, root, by_path, options.view_depth, block)


# ---- DOT ----------------------------------------------------------------------------------------
def _html(lines: list[str], detail: str | None, theme: Theme) -> str:
    body = "<BR/>".join(html.escape(line, quote=False) for line in lines)
    for extra in (detail or "").split("\n") if detail else []:
        body += f'<BR/><FONT POINT-SIZE="9" COLOR="{theme.detail}">{esc(extra)}</FONT>'
    return f"<{body}>"


#: Label text DOT takes as a plain quoted string; anything else goes through an HTML label,
#: escaped (a display name or title is the user's text).
_PLAIN = re.compile(r"[\w ,.:;/()×↑·+\-\[\]…'=]*")


class _Writer:
    """Turns a `Figure` into DOT text with the `graphviz` package (no binary needed)."""

    def __init__(self, fig: Figure, options: FigureOptions) -> None:
        self.fig = fig
        self.opt = options
        self.theme = THEMES[options.theme]
        self.labels = Labeler(fig, options)
        self.network = fig.view == "network" and options.view_depth == 1
        self.rankdir = options.rankdir or ("BT" if fig.view == "block" else "TB")
        #: arrows leaving each box: a tensor read by several boxes gets its shape written once,
        #: under the box that makes it, instead of on every arrow
        self.fanout = {k: 0 for k in fig.items}
        self.fanin = {k: 0 for k in fig.items}
        for e in fig.edges:
            self.fanout[e.src] += 1
            self.fanin[e.dst] += 1
        self.page = PagePlan()
        #: what the legend lists: the families and label lines drawn, the circled joins
        self.drawn: dict[str, list[str]] = {"families": [], "labels": [], "circles": []}

    def write(self) -> str:
        import graphviz

        fig, opt, theme = self.fig, self.opt, self.theme
        rankdir = self.rankdir
        dot = graphviz.Digraph(
            name=fig.graph.name,
            graph_attr={
                "rankdir": rankdir,
                "ordering": "out",
                "newrank": "true",
                "bgcolor": "white",
                "fontname": opt.font,
                "fontsize": "10",
                "nodesep": "0.22",
                "ranksep": "0.28",
                "pad": "0.15",
            },
            node_attr={
                "fontname": opt.font,
                "fontsize": "11",
                "shape": "box",
                "style": "filled",
                "height": "0.3",
                "margin": "0.1,0.04",
                "penwidth": "1",
                "color": "#000000",
                "fontcolor": theme.text,
            },
            edge_attr={
                "fontname": opt.font,
                "fontsize": "9",
                "fontcolor": theme.detail,
                "color": theme.edge,
                "arrowsize": "0.6",
                "penwidth": "0.9",
            },
        )
        self._cluster(dot, fig.top, top=True)
        widest = {k: max(map(len, self._box(it)[1])) for k, it in fig.items.items()}
        self.page = plan_page(fig, opt.width, rankdir, widest)
        for e in fig.edges:
            self._edge(dot, e)
        decorate(dot, self)
        return dot.source

    # ---- clusters and boxes
    def _cluster(self, dot: Any, cl: Cluster, top: bool = False) -> None:
        for key in cl.items:
            self._node(dot, self.fig.items[key])
        for sub in cl.clusters:
            c = sub.container
            if c.kind not in ("block", "repeat") or is_trivial(c):
                # branches, copies and one-op blocks get no frame: Graphviz keeps the branches'
                # source order (ordering=out) only between nodes not in clusters of their own
                self._cluster(dot, sub)
                continue
            with dot.subgraph(name=f"cluster_{c.path}") as s:
                s.attr(**self._cluster_attrs(c))
                self._cluster(s, sub)

    def _cluster_attrs(self, c: Container) -> dict[str, str]:
        theme = self.theme
        top = "b" if self.rankdir == "BT" else "t"  # Graphviz flips labelloc with the ranks
        label = self.labels.cluster(c)
        label = label if _PLAIN.fullmatch(label) else f"<{esc(label)}>"
        if c.kind == "block":
            return {
                "label": label,
                "style": "rounded,filled",
                "fillcolor": theme.cluster_fill,
                "color": theme.cluster_border,
                "labeljust": "l",
                "labelloc": top,
                "fontcolor": theme.detail,
                "penwidth": "0.8",
            }
        if c.kind == "repeat":
            return {
                "label": label,
                "style": "rounded,dashed",
                "color": theme.cluster_border,
                "labeljust": "r",
                "labelloc": top,
                "fontcolor": theme.detail,
                "penwidth": "0.8",
            }
        raise AssertionError(c.kind)  # pragma: no cover - only blocks and repeats are framed

    def _node(self, dot: Any, it: Item) -> None:
        family, lines, out, tooltip = self._box(it)
        attrs, detail = self._node_attrs(it, family, tooltip, self._detail(it, out))
        if self.opt.costs and it.kind in ("unit", "collapsed"):
            line = cost_line(self.fig.graph, it.nodes)
            if line and attrs.get("shape") != "circle":
                detail = f"{detail}\n{line}" if detail else line
        plain = len(lines) == 1 and not detail and _PLAIN.fullmatch(lines[0])
        label = lines[0] if plain else _html(lines, detail, self.theme)
        self.drawn["families"].append(family)
        self.drawn["labels"].extend(lines)
        dot.node(it.key, label, **attrs)

    def _box(self, it: Item) -> tuple[str, list[str], int | None, str]:
        """(op family, label lines, the node whose output shape it shows, tooltip) of a box."""
        g = self.fig.graph
        family, lines, tooltip = "io", [it.key], it.key
        out = it.nodes[-1] if it.nodes else None
        if it.kind == "unit" and it.unit is not None:
            family = OPS[g.op(it.unit.first)].family
            lines = [self.labels.unit(it.unit)]
            if it.unit.scope in self.labels.display:  # `conv(...) as stem "Stem"`
                lines.insert(0, self.labels.display[it.unit.scope])
            out = it.unit.last
            tooltip = f"{it.key}: {' → '.join(g.op(n) for n in it.unit.nodes)}"
        elif it.kind == "collapsed" and it.container is not None:
            family = "block"
            lines = self.labels.container(it.container)
            out = _output_of(g, it.nodes)
            tooltip = f"{it.key}: {len(it.container.units())} ops"
        elif it.kind == "input":
            if g.op(it.nodes[0]) == "input":
                lines = [str(g.attrs(it.nodes[0])["name"])]
            else:  # the block view: what the block reads from outside
                n_in = sum(1 for k in self.fig.items if k.startswith("input@"))
                lines = ["Previous layer" if n_in == 1 else f"Input {it.key.split('@')[1]}"]
            tooltip = g.scope(it.nodes[0])
        elif it.kind == "head" and it.head is not None:
            h = it.head
            lines = [h.name if h.kind == "output" else f"{h.name} (aux, weight {h.weight:g})"]
            tooltip = f"{h.kind} {h.name}"
        return family, lines, out, tooltip

    def _detail(self, it: Item, out: int | None) -> str | None:
        """The shape written under the box, if it is written there (see `fanout`)."""
        exits = it.exits and self.fig.view == "block"  # elsewhere a head box shows the shape
        if (
            self.opt.shapes
            and out is not None
            and (self.network or it.kind != "unit" or exits or self.fanout[it.key] > 1)
        ):
            return fmt_shape(self.fig.graph.shape(out))
        return None

    def _node_attrs(
        self, it: Item, family: str, tooltip: str, detail: str | None
    ) -> tuple[dict[str, str], str | None]:
        """(the DOT attributes of a box, the detail line left for its label: none for a sum or a
        product, whose shape goes beside the circle)."""
        g, theme = self.fig.graph, self.theme
        shape, style = SHAPES[family]
        attrs = {
            "fillcolor": theme.fill[family],
            "color": theme.border[family],
            "style": ",".join(s for s in (style, "filled") if s),
            "shape": shape,
            "tooltip": tooltip,
        }
        if (
            self.fig.view == "block"
            and it.kind == "unit"
            and it.unit is not None
            and g.op(it.unit.first) == "concat"
        ):
            # as wide as the branches it joins, as the papers draw "Filter concat"
            attrs["width"] = f"{min(1.3 * self.fanin[it.key], 12):.2f}"
        if it.kind == "unit" and it.unit is not None and g.op(it.unit.first) in _CIRCLED:
            attrs.update(
                shape="circle",
                width="0.3",
                height="0.3",
                fixedsize="true",
                fontsize="14",
                margin="0",
            )
            self.drawn["circles"].append(g.op(it.unit.first))
            if detail:  # beside the circle, in the small grey of the other shape lines
                attrs["xlabel"] = (
                    f'<<FONT POINT-SIZE="9" COLOR="{theme.detail}">'
                    f"{html.escape(detail, quote=False)}</FONT>>"
                )
                detail = None
        if it.aux_only:
            attrs["style"] += ",dashed"
            attrs["color"] = theme.aux
        if it.kind == "head":
            attrs.update(shape="plaintext", style="", margin="0.02")
        return attrs, detail

    def _edge(self, dot: Any, e: Edge) -> None:
        g, opt = self.fig.graph, self.opt
        attrs: dict[str, str] = {}
        src, dst = self.fig.items[e.src], self.fig.items[e.dst]
        if (
            opt.shapes
            and not self.network
            and src.kind == "unit"
            and self.fanout[e.src] == 1
            and dst.kind != "head"
            and not _into_circle(g, dst, e.node)
        ):
            attrs["label"] = f" {fmt_shape(g.shape(e.node))}"
        branch = branch_label(src, dst)
        if branch is not None:
            attrs["label"] = f" {branch}" + (f" · {attrs['label'][1:]}" if "label" in attrs else "")
        if e.gate:  # the gate meets the path it scales: bold, in the activations' colour
            attrs.update(
                label=" gate" + attrs.get("label", ""),
                color=self.theme.border["act"],
                fontcolor=self.theme.border["act"],
                penwidth="1.8",
            )
        if e.aux_only:
            attrs.update(style="dashed", color=self.theme.aux)
        attrs.update(self.page.edge_attrs.get((e.src, e.dst), {}))
        if (e.src, e.dst) in self.page.reversed:  # laid out upwards, drawn pointing the same way
            dot.edge(e.dst, e.src, dir="back", **attrs)
        else:
            dot.edge(e.src, e.dst, **attrs)


def _into_circle(g: Graph, dst: Item, node: int) -> bool:
    """Whether an arrow carrying `node` enters a sum or product circle with the shape it puts out
    (written after the circle once: two shape labels at one small circle collide)."""
    if dst.kind != "unit" or dst.unit is None or g.op(dst.unit.first) not in _CIRCLED:
        return False
    return g.shape(node) == g.shape(dst.unit.last)


#: Joins drawn as a small circle with their symbol: the residual sum "+", the gating product "×"
#: (squeeze-and-excitation: the gate branch meets the main path there).
_CIRCLED = ("add", "mul")


def _output_of(g: Graph, nodes: list[int]) -> int:
    """The node of `nodes` whose output leaves the group (the last one read from outside)."""
    inside = set(nodes)
    leaving = [
        n for n in nodes if any(v not in inside for v, _ in g.users(n)) or n in g.head_nodes()
    ]
    return leaving[-1] if leaving else nodes[-1]


# ---- public API ---------------------------------------------------------------------------------
def to_dot(graph: Graph, options: FigureOptions) -> str:
    """The DOT text of a figure of `graph` under `options`; no Graphviz binary needed."""
    return _Writer(figure(graph, options), options).write()


def write_figure(
    graph: Graph,
    path: str | Path,
    options: FigureOptions,
    fmt: str | None = None,
    inputs: tuple[Path, ...] = (),
) -> str:
    """Write the figure of `graph` to `path` (format from its suffix unless `fmt` is given;
    atomically); return a one-line description. The path is checked first
    (`outputs.check_output`): a name ending in a suffix of the format, no folder or device, none
    of `inputs` (the program's source files); else a `UsageError`."""
    from incept_dsl.outputs import check_output, write_output

    path = Path(path)
    fmt = fmt or format_of(path)
    if fmt not in SUFFIXES:
        raise UsageError(f"the figure format is one of {', '.join(FORMATS)}; got {fmt!r}")
    check_output(path, SUFFIXES[fmt], inputs, f"a {fmt.upper()} figure")
    fig = figure(graph, options)
    source = _Writer(fig, options).write()
    write_output(path, source if fmt == "dot" else render(source, fmt))
    boxes = sum(1 for it in fig.items.values() if it.kind != "head")
    return f"{fmt.upper()} figure of {graph.name}: {_view_name(options, fig)}, {boxes} boxes"


def _view_name(options: FigureOptions, fig: Figure) -> str:
    """What was drawn; for a block, which instance (never silently the first of several)."""
    if options.block:
        path = fig.top.container.path
        count = sum(1 for b in fig.graph.data.get("blocks", {}).values() if b == options.block)
        if count > 1:
            return (
                f"block {options.block}: {path}, the first of its {count} instances (all of one "
                "form; --block SCOPE draws another)"
            )
        return f"block {options.block}" + (f" ({path})" if path != options.block else "")
    depth = options.view_depth
    return "network" if depth == 1 else "every op" if depth is None else f"depth {depth}"


__all__ = ["FigureOptions", "figure", "render", "to_dot", "write_figure"]
