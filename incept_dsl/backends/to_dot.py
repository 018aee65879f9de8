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
concat", as the papers do. Tensor shapes (`shapes=True`) are shown once per tensor: under the box
that produces it in the network view, and in the other views on its arrow, or under the box when
several arrows carry it. Colours per op family come from a colour-blind-safe palette (Okabe–Ito),
or grey levels with `theme="grayscale"`. `depth` and `expand` apply inside the block view too.

Guarantees: `to_dot` needs no Graphviz binary; the same model and options give byte-identical DOT
text, and `dot` turns that into byte-identical SVG. `render` raises `UsageError` naming how to
install Graphviz when the `dot` program is missing.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from incept_dsl.backends.figure_labels import (
    ACT_NAMES,
    fmt_shape,
    instance_title,
    name_title,
    op_label,
    pretty,
)
from incept_dsl.backends.figure_model import (
    Cluster,
    Container,
    Edge,
    Figure,
    Item,
    Unit,
    fuse_units,
    is_trivial,
    layout,
    scope_tree,
)
from incept_dsl.backends.figure_style import SHAPES, THEMES, Theme
from incept_dsl.errors import UsageError, did_you_mean
from incept_dsl.ir.graph import Graph
from incept_dsl.ir.ops import ACTIVATIONS, OPS

#: Output formats `render` writes (by file suffix); "dot" is the DOT text itself.
FORMATS = ("dot", "svg", "pdf", "png")
#: format -> the file name endings a figure file in it may have (the first is the default's)
SUFFIXES: dict[str, tuple[str, ...]] = {
    "dot": (".dot", ".gv"),
    "svg": (".svg",),
    "pdf": (".pdf",),
    "png": (".png",),
}
RANKDIRS = ("TB", "BT", "LR", "RL")
#: PNG resolution (dots per inch): sharp enough for slides and print previews.
PNG_DPI = 200
#: Seconds Graphviz's `dot` may take to lay out a figure before `render` gives up.
RENDER_TIMEOUT_S = 120.0
#: The longest `font` name a figure takes (Graphviz refuses over-long tokens with a syntax error).
MAX_FONT_LENGTH = 200

INSTALL_HINT = (
    "install Graphviz: `sudo apt-get install graphviz` (Debian/Ubuntu), "
    "`brew install graphviz` (macOS), or `conda install -c conda-forge graphviz`; "
    "or write the DOT text with `-o FILE.dot`, which needs no Graphviz"
)


@dataclass(frozen=True)
class FigureOptions:
    """What to draw and how. `depth` counts nested blocks and repeats (1 = the network view);
    `expand` draws every op; `block` picks the block view. `rankdir` defaults to top-to-bottom,
    and bottom-to-top (as the papers draw modules) in the block view. `opt_level` draws the graph
    the `-O1`/`-O2` passes make (merged sibling convs, folded batch norms)."""

    block: str | None = None
    expand: bool = False
    collapse: bool = False
    depth: int | None = None
    shapes: bool = True
    rankdir: str | None = None
    font: str = "Helvetica"
    theme: str = "default"
    aux: bool = True
    opt_level: int = 0

    def __post_init__(self) -> None:
        if self.opt_level not in (0, 1, 2):
            raise UsageError(f"opt_level must be 0, 1 or 2; got {self.opt_level!r}")
        if sum((self.expand, self.collapse, self.depth is not None)) > 1:
            raise UsageError("choose one of expand, collapse and depth")
        if self.depth is not None and (not isinstance(self.depth, int) or self.depth < 1):
            raise UsageError(f"depth must be a whole number >= 1; got {self.depth!r}")
        if self.rankdir is not None and self.rankdir not in RANKDIRS:
            raise UsageError(f"rankdir must be one of {', '.join(RANKDIRS)}; got {self.rankdir!r}")
        if self.theme not in THEMES:
            raise UsageError(f"theme must be one of {', '.join(THEMES)}; got {self.theme!r}")
        if not self.font or any(c in self.font for c in '"\\\n'):
            raise UsageError(f"not a font name: {self.font!r}")
        if len(self.font) > MAX_FONT_LENGTH:
            raise UsageError(
                f"not a font name: {self.font[:40]!r}... is {len(self.font)} characters long "
                f"(at most {MAX_FONT_LENGTH})"
            )

    @property
    def view_depth(self) -> int | None:
        """Collapse blocks and repeats this deep (None: draw every op)."""
        if self.depth is not None:
            return self.depth
        if self.collapse:
            return 1
        if self.expand or self.block is not None:
            return None
        return 1


def figure(model_or_graph: Any, options: FigureOptions) -> Figure:
    """The `Figure` (boxes, clusters, arrows) of a model or IR graph under `options` (drawn after
    the `-O<opt_level>` passes when `opt_level` is not 0)."""
    graph: Graph = getattr(model_or_graph, "graph", model_or_graph)
    if options.opt_level:
        from incept_dsl.passes import run_pipeline

        graph = run_pipeline(graph, options.opt_level)
    if not options.aux:
        graph = graph.copy()
        graph.eliminate_dead_code(keep_kinds=("output",))
    units = fuse_units(graph)
    root, _, by_path = scope_tree(graph, units)
    block = _pick_block(root, options.block) if options.block is not None else None
    return layout(graph, units, root, by_path, options.view_depth, block)


def _pick_block(root: Container, name: str) -> Container:
    """The first applied block called `name`, or the block instance whose scope path is `name`."""
    blocks = [c for c in root.containers() if c.kind == "block"]
    for c in blocks:
        if c.path == name:
            return c
    for c in blocks:
        if c.block == name:
            return c
    names = sorted({c.block for c in blocks if c.block})
    hint = did_you_mean(name, names + [c.path for c in blocks])
    raise UsageError(
        f"no block '{name}' is applied in this model (blocks it applies: "
        f"{', '.join(names) or 'none'})" + (f"; {hint}" if hint else "")
    )


# ---- labels -------------------------------------------------------------------------------------
class _Labeler:
    """Titles of the figure's boxes and clusters."""

    def __init__(self, fig: Figure) -> None:
        self.fig = fig
        g = fig.graph
        convs = [n for n in g.nodes("conv")]
        acted = sum(1 for n in convs if _activation(g, n) is not None)
        #: most convs have an activation, so one without is marked "Linear" (as the
        #: Inception-ResNet paper marks its 1×1 projections)
        self.mark_linear = bool(convs) and acted * 2 > len(convs)

    def unit(self, u: Unit) -> str:
        g = self.fig.graph
        op = g.op(u.first)
        text = op_label(op, g.attrs(u.first))
        if op in ("conv", "linear"):
            act = next((g.op(n) for n in u.nodes if g.op(n) in ACTIVATIONS), None)
            if act is not None and act != "relu":
                text += f", {ACT_NAMES[act]}"
            elif act is None and op == "conv" and self.mark_linear:
                text += " Linear"
        return text

    def container(self, c: Container) -> list[str]:
        """The lines of a collapsed block or repeat."""
        if c.kind == "block":
            return [instance_title(c.name, c.block or c.name)]
        if c.kind == "repeat":
            copies = c.copies
            body = copies[0] if copies else c
            lines = self.contents(body)
            name = _repeat_name(c)
            if len(lines) == 1:
                return [(f"{name} · " if name else "") + f"{lines[0]} ×{len(copies)}"]
            return [*([name] if name else []), *lines, f"×{len(copies)}"]
        return [pretty(c.name)]

    def contents(self, c: Container) -> list[str]:
        """One line per child of `c` (at most four, then an ellipsis)."""
        lines: list[str] = []
        for child in c.children:
            if isinstance(child, Unit):
                lines.append(self.unit(child))
            elif child.kind == "block":
                lines.append(
                    self.unit(child.units()[0])
                    if is_trivial(child)
                    else pretty(child.block or child.name)
                )
            else:
                lines.extend(self.contents(child))
        return lines if len(lines) <= 4 else [*lines[:3], "…"]

    def cluster(self, c: Container) -> str:
        if c.kind == "block":
            return instance_title(c.name, c.block or c.name)
        if c.kind == "repeat":
            name = _repeat_name(c)
            return (f"{name} " if name else "") + f"×{len(c.copies)}"
        return ""


def _repeat_name(c: Container) -> str | None:
    """The title of a repeat named with `as` (`repeat(2) { ... } as layer1`: "Layer (1)")."""
    if re.fullmatch(r"repeat(_\w+)?", c.name):  # unnamed, or named just "repeat_a"
        return None
    return name_title(c.name)


def _activation(g: Graph, conv: int) -> str | None:
    """The activation elaboration attached to `conv` (directly, or after its batch norm)."""
    n = conv
    for _ in range(2):
        users = g.users(n)
        if len(users) != 1:
            return None
        n = users[0][0]
        if g.op(n) in ACTIVATIONS:
            return g.op(n)
        if g.op(n) != "batchnorm":
            return None
    return None


# ---- DOT ----------------------------------------------------------------------------------------
def _html(lines: list[str], detail: str | None, theme: Theme) -> str:
    body = "<BR/>".join(html.escape(line, quote=False) for line in lines)
    if detail:
        body += (
            f'<BR/><FONT POINT-SIZE="9" COLOR="{theme.detail}">'
            f"{html.escape(detail, quote=False)}</FONT>"
        )
    return f"<{body}>"


class _Writer:
    """Turns a `Figure` into DOT text with the `graphviz` package (no binary needed)."""

    def __init__(self, fig: Figure, options: FigureOptions) -> None:
        self.fig = fig
        self.opt = options
        self.theme = THEMES[options.theme]
        self.labels = _Labeler(fig)
        self.network = fig.view == "network" and options.view_depth == 1
        self.rankdir = options.rankdir or ("BT" if fig.view == "block" else "TB")
        #: arrows leaving each box: a tensor read by several boxes gets its shape written once,
        #: under the box that makes it, instead of on every arrow
        self.fanout = {k: 0 for k in fig.items}
        self.fanin = {k: 0 for k in fig.items}
        for e in fig.edges:
            self.fanout[e.src] += 1
            self.fanin[e.dst] += 1

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
        for e in fig.edges:
            self._edge(dot, e)
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
        if c.kind == "block":
            return {
                "label": self.labels.cluster(c),
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
                "label": self.labels.cluster(c),
                "style": "rounded,dashed",
                "color": theme.cluster_border,
                "labeljust": "r",
                "labelloc": top,
                "fontcolor": theme.detail,
                "penwidth": "0.8",
            }
        raise AssertionError(c.kind)  # pragma: no cover - only blocks and repeats are framed

    def _node(self, dot: Any, it: Item) -> None:
        g, theme, opt = self.fig.graph, self.theme, self.opt
        family, lines, detail, tooltip = "io", [it.key], None, it.key
        out = it.nodes[-1] if it.nodes else None
        if it.kind == "unit" and it.unit is not None:
            family = OPS[g.op(it.unit.first)].family
            lines = [self.labels.unit(it.unit)]
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
        exits = it.exits and self.fig.view == "block"  # elsewhere a head box shows the shape
        if (
            opt.shapes
            and out is not None
            and (self.network or it.kind != "unit" or exits or self.fanout[it.key] > 1)
        ):
            detail = fmt_shape(g.shape(out))
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
        if it.kind == "unit" and it.unit is not None and g.op(it.unit.first) == "add":
            attrs.update(
                shape="circle",
                width="0.3",
                height="0.3",
                fixedsize="true",
                fontsize="14",
                margin="0",
            )
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
        label = _html(lines, detail, theme) if detail or len(lines) > 1 else lines[0]
        dot.node(it.key, label, **attrs)

    def _edge(self, dot: Any, e: Edge) -> None:
        g, opt = self.fig.graph, self.opt
        attrs: dict[str, str] = {}
        src = self.fig.items[e.src]
        if (
            opt.shapes
            and not self.network
            and src.kind == "unit"
            and self.fanout[e.src] == 1
            and self.fig.items[e.dst].kind != "head"
        ):
            attrs["label"] = f" {fmt_shape(g.shape(e.node))}"
        if e.aux_only:
            attrs.update(style="dashed", color=self.theme.aux)
        dot.edge(e.src, e.dst, **attrs)


def _output_of(g: Graph, nodes: list[int]) -> int:
    """The node of `nodes` whose output leaves the group (the last one read from outside)."""
    inside = set(nodes)
    leaving = [
        n for n in nodes if any(v not in inside for v, _ in g.users(n)) or n in g.head_nodes()
    ]
    return leaving[-1] if leaving else nodes[-1]


# ---- public API ---------------------------------------------------------------------------------
def to_dot(model: Any, **options: Any) -> str:
    """The DOT text of a figure of `model` (a `Model` or an IR `Graph`); no Graphviz binary needed.

    Options (see `FigureOptions`): `block`, `expand`, `collapse`, `depth`, `shapes`, `rankdir`,
    `font`, `theme`, `aux`, `opt_level`. Unknown options and bad values raise `UsageError`.
    """
    return _write(model, _options(options))


def _options(options: dict[str, Any]) -> FigureOptions:
    known = FigureOptions.__dataclass_fields__
    for key in options:
        if key not in known:
            hint = did_you_mean(key, known)
            raise UsageError(
                f"to_dot has no option '{key}' (it takes: {', '.join(known)})"
                + (f"; {hint}" if hint else "")
            )
    return FigureOptions(**options)


def _write(model: Any, options: FigureOptions) -> str:
    return _Writer(figure(model, options), options).write()


def render(dot_source: str, fmt: str, timeout: float | None = None) -> bytes:
    """`dot_source` rendered by Graphviz's `dot` to `fmt` (svg, pdf or png).

    Raises `UsageError` with install instructions when `dot` is not installed, when the layout
    runs past `timeout` seconds (default `RENDER_TIMEOUT_S`: Graphviz's layout is superlinear,
    and a figure of thousands of boxes can take it hours), and when Graphviz refuses the figure
    (quoting its message: it limits, for one, the length of a single label or name).
    """
    if fmt not in FORMATS or fmt == "dot":
        raise UsageError(f"cannot render to {fmt!r}; formats: svg, pdf, png")
    if fmt == "png":
        dot_source = dot_source.replace("{\n", f"{{\n\tdpi={PNG_DPI}\n", 1)
    exe = shutil.which("dot")
    if exe is None:
        raise UsageError(
            f"drawing a .{fmt} figure needs Graphviz's `dot` program, which is not "
            f"on PATH; {INSTALL_HINT}"
        )
    limit = RENDER_TIMEOUT_S if timeout is None else timeout
    try:
        done = subprocess.run(
            [exe, "-Kdot", f"-T{fmt}"],
            input=dot_source.encode("utf-8"),
            capture_output=True,
            timeout=limit,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise UsageError(
            f"the figure is too large for Graphviz's layout: `dot` did not finish in {limit:g} s; "
            "draw the collapsed view (the default, or --collapse), fewer levels (--depth N) or "
            "one block (--block NAME), or write the DOT text with `-o FILE.dot` (`--to dot`) "
            "and lay it out yourself"
        ) from None
    except OSError as err:
        raise UsageError(f"could not run Graphviz's `dot` ({exe}): {err}") from None
    if done.returncode != 0:
        # Graphviz rejects some figures we cannot foresee (limits on one token's length, memory);
        # its message says why, and the user can act on it (shorter names, another view).
        message = done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
        raise UsageError(
            f"Graphviz could not lay out the figure: {message[:2000]}; try another view "
            "(--collapse, --depth N, --block NAME) or write the DOT text with `-o FILE.dot`"
        )
    data = done.stdout
    return _fixed_pdf_dates(data) if fmt == "pdf" else data


_PDF_DATE = re.compile(rb"/(CreationDate|ModDate) \(D:(\d{14})")


def _fixed_pdf_dates(pdf: bytes) -> bytes:
    """The PDF with its creation date set to 1970-01-01, so the same figure gives the same bytes
    (cairo ignores SOURCE_DATE_EPOCH). The length stays the same, so the xref table stays valid."""
    return _PDF_DATE.sub(lambda m: b"/" + m[1] + b" (D:19700101000000", pdf)


def format_of(path: Path) -> str:
    """The figure format a file name asks for (`.gv` is DOT too); `UsageError` otherwise."""
    suffix = path.suffix.lower().lstrip(".")
    if suffix == "gv":
        return "dot"
    if suffix not in FORMATS:
        raise UsageError(
            f"cannot tell the figure format of {str(path)!r}; use a file name "
            f"ending in {', '.join('.' + f for f in FORMATS)}"
        )
    return suffix


def write_figure(
    model: Any, path: str | Path, options: FigureOptions, fmt: str | None = None
) -> str:
    """Write the figure of `model` to `path` (format from its suffix unless `fmt` is given);
    return a one-line description. The path is checked first (`outputs.check_output`): a name
    ending in a suffix of the format, no folder or device, none of the model's source files;
    else a `UsageError`."""
    from incept_dsl.outputs import check_output, write_output

    path = Path(path)
    fmt = fmt or format_of(path)
    if fmt not in SUFFIXES:
        raise UsageError(f"the figure format is one of {', '.join(FORMATS)}; got {fmt!r}")
    inputs = tuple(getattr(model, "source_files", ()) or ())
    check_output(path, SUFFIXES[fmt], inputs, f"a {fmt.upper()} figure")
    fig = figure(model, options)
    source = _Writer(fig, options).write()

    write_output(path, source if fmt == "dot" else render(source, fmt))
    boxes = sum(1 for it in fig.items.values() if it.kind != "head")
    what = (
        f"block {options.block}"
        if options.block
        else (
            "network"
            if options.view_depth == 1
            else "every op"
            if options.view_depth is None
            else f"depth {options.view_depth}"
        )
    )
    name = getattr(model, "name", "model")
    return f"{fmt.upper()} figure of {name}: {what}, {boxes} boxes"


def options_from_args(args: argparse.Namespace) -> FigureOptions:
    """`FigureOptions` from the command line's figure arguments (absent ones keep defaults)."""
    get = lambda name, default: getattr(args, name, default)  # noqa: E731
    shapes = get("shapes", None)
    return FigureOptions(
        block=get("block", None),
        expand=bool(get("expand", False)),
        collapse=bool(get("collapse", False)),
        depth=get("depth", None),
        shapes=True if shapes is None else shapes,
        rankdir=get("rankdir", None),
        font=get("font", None) or "Helvetica",
        theme=get("theme", None) or "default",
        aux=not get("no_aux", False),
        opt_level=get("opt_level", None) or 0,
    )


def emit(model: Any, args: argparse.Namespace, out: Path) -> str:
    """`incept-dsl compile --to dot|svg|pdf|png`: write the figure the arguments ask for."""
    fmt = getattr(args, "to", None) or format_of(out)
    return write_figure(model, out, options_from_args(args), fmt)


__all__ = ["FigureOptions", "emit", "figure", "render", "to_dot", "write_figure"]
