"""Figures, cost tables and downloads of one model, made by the project's own backends.

Figures: the network view and every-op view are Graphviz (`figure.dot.to_dot` + `figure.render`),
one block is `FigureOptions(block=...)`, the blocks style is `figure.styles.blocks_bytes` (and its
TikZ source `tikz_text`). Tables: `Model.summary(by=...)`'s formats. Every function returns
bytes or text or raises the project's `UsageError`; the same model and view give the same bytes.
"""

from __future__ import annotations

from typing import Any

from incept_dsl.errors import UsageError
from incept_dsl.preview.choices import FIGURE_DOWNLOADS, TABLE_DOWNLOADS, View

#: Seconds Graphviz may take for one preview figure (a live page should not wait for hours).
FIGURE_TIMEOUT_S = 60.0


def figure_options(view: View) -> Any:
    """The `FigureOptions` of a view (`blocks` style: the whole network, no block)."""
    from incept_dsl.backends.figure.options import FigureOptions

    if view.style == "blocks":
        return FigureOptions(style="blocks")
    if view.block:
        return FigureOptions(block=view.block)
    return FigureOptions(expand=view.style == "expand")


def figure_bytes(model: Any, view: View, fmt: str) -> bytes:
    """The figure of `model` under `view` in `fmt` (svg, pdf, png; tikz: the blocks style)."""
    from incept_dsl.backends.figure.dot import to_dot
    from incept_dsl.backends.figure.render import render
    from incept_dsl.backends.figure.styles import blocks_bytes, tikz_text

    if fmt not in FIGURE_DOWNLOADS:
        raise UsageError(f"not a figure format: {fmt!r}")
    graph = model.figure_graph(0, True)
    if fmt == "tikz":
        return tikz_text(graph, figure_options(View(style="blocks"))).encode("utf-8")
    options = figure_options(view)
    if view.style == "blocks":
        return bytes(blocks_bytes(graph, options, fmt))
    return render(to_dot(graph, options), fmt, timeout=FIGURE_TIMEOUT_S)


def table_text(model: Any, view: View, fmt: str = "text") -> str:
    """The cost table of `model` (rows per `view.by`) in `fmt` (a `TABLE_DOWNLOADS` key)."""
    if fmt not in TABLE_DOWNLOADS:
        raise UsageError(f"not a table format: {fmt!r}")
    return str(model.summary(by=view.by).render(fmt))


def block_choices(model: Any) -> list[str]:
    """What the block selector offers: each applied block's name (sorted), then each instance's
    scope path in drawing order (a block whose instances differ in form is drawn by scope)."""
    from incept_dsl.backends.figure.structure import fuse_units, scope_tree

    graph = model.figure_graph(0, True)
    root = scope_tree(graph, fuse_units(graph))[0]
    instances = [c for c in root.containers() if c.kind == "block"]
    names = sorted({c.block for c in instances if c.block})
    return names + [c.path for c in instances if c.path not in names]


def download(model: Any, view: View, fmt: str) -> tuple[bytes, str]:
    """(bytes, media type) of a download: a figure or a table format."""
    if fmt in TABLE_DOWNLOADS:
        return table_text(model, view, fmt).encode("utf-8"), TABLE_DOWNLOADS[fmt][1]
    return figure_bytes(model, view, fmt), FIGURE_DOWNLOADS[fmt][1]
