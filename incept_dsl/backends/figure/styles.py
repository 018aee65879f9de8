"""The figure styles (`--style graph|blocks`) and the file each writes (`write_styled`).

- `graph` (the default): boxes and arrows laid out by Graphviz (`dot.write_figure`): .dot, .svg,
  .pdf, .png.
- `blocks`: PlotNeuralNet-style blocks (`blocks.blocks_svg`): .svg; .tex is the TikZ source
  (`tikz.tikz_source`), which `compile --to tikz` writes too; .png and .pdf are the SVG converted
  by `rsvg-convert` (librsvg), a `UsageError` naming it when it is not installed. The blocks
  style draws the whole network: `--block`, `--expand`, `--depth` and the graph-only options
  are a `UsageError` with it.

Guarantees: the same model and options give the same bytes (the converters are deterministic
for these inputs); every output path is checked first (`outputs.check_output`).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from incept_dsl.backends.figure.options import FigureOptions
from incept_dsl.errors import UsageError
from incept_dsl.ir.graph import Graph

#: File endings per format of the blocks style.
BLOCKS_SUFFIXES = {"svg": (".svg",), "tex": (".tex",), "png": (".png",), "pdf": (".pdf",)}
#: Seconds `rsvg-convert` may take.
CONVERT_TIMEOUT_S = 60.0


def blocks_options(options: FigureOptions, standalone: bool = True) -> Any:
    """The `BlocksOptions` of the figure options; `UsageError` for options the blocks style has
    not (it draws the whole network, boxes as blocks)."""
    from incept_dsl.backends.figure.blocks_options import BlocksOptions

    unsupported = [
        flag
        for flag, on in (
            ("--block", options.block is not None),
            ("--expand", options.expand),
            ("--depth", options.depth is not None),
            ("--rankdir", options.rankdir is not None),
            ("--legend", options.legend),
            ("--costs", options.costs),
            ("--show-norm-act", options.show_norm_act),
        )
        if on
    ]
    if unsupported:
        raise UsageError(
            f"{', '.join(unsupported)} draw(s) only in the graph style; drop them, or "
            "leave out --style blocks"
        )
    return BlocksOptions(
        title=options.title,
        width_in=options.width,
        shapes=options.shapes,
        font=options.font,
        theme=options.theme,
        aux=options.aux,
        standalone=standalone,
    )


def tikz_text(graph: Graph, options: FigureOptions, standalone: bool = True) -> str:
    """The TikZ source of the blocks style."""
    from incept_dsl.backends.figure.tikz import tikz_source

    return tikz_source(graph, blocks_options(options, standalone))


def blocks_bytes(graph: Graph, options: FigureOptions, fmt: str) -> bytes:
    """The blocks style of `graph` in `fmt` (svg, tex, png or pdf)."""
    if fmt == "tex":
        return tikz_text(graph, options).encode("utf-8")
    from incept_dsl.backends.figure.blocks import blocks_svg

    svg = blocks_svg(graph, blocks_options(options)).encode("utf-8")
    if fmt == "svg":
        return svg
    if fmt in ("png", "pdf"):
        return convert_svg(svg, fmt)
    raise UsageError(f"the blocks style writes .svg, .tex, .png or .pdf; not .{fmt}")


def convert_svg(svg: bytes, fmt: str) -> bytes:
    """`svg` converted to PNG or PDF by `rsvg-convert`; `UsageError` when it is missing."""
    exe = shutil.which("rsvg-convert")
    if exe is None:
        raise UsageError(
            f"a .{fmt} of the blocks style needs `rsvg-convert` (librsvg: `sudo apt-get install "
            "librsvg2-bin`, `brew install librsvg`); or write .svg or .tex"
        )
    args = [exe, "-f", fmt] + (["--dpi-x", "200", "--dpi-y", "200"] if fmt == "png" else [])
    try:
        done = subprocess.run(
            args, input=svg, capture_output=True, timeout=CONVERT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise UsageError(f"could not convert the SVG with {exe}: {err}") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()[:500]
        raise UsageError(f"rsvg-convert could not convert the figure: {message}")
    return done.stdout


def write_styled(
    graph: Graph, path: Path, options: FigureOptions, fmt: str, inputs: tuple[Path, ...] = ()
) -> str:
    """Write the figure of `graph` in `options.style` to `path`; a one-line description."""
    from incept_dsl.backends.figure.dot import write_figure
    from incept_dsl.outputs import check_output, write_output

    if options.style == "graph":
        if fmt == "tex":
            raise UsageError("a .tex figure is the blocks style's TikZ source: add --style blocks")
        return write_figure(graph, path, options, fmt, inputs)
    if fmt not in BLOCKS_SUFFIXES:
        raise UsageError(f"the blocks style writes .svg, .tex, .png or .pdf; not .{fmt}")
    check_output(path, BLOCKS_SUFFIXES[fmt], inputs, f"a {fmt.upper()} figure")
    write_output(path, blocks_bytes(graph, options, fmt))
    kind = "TikZ source" if fmt == "tex" else f"{fmt.upper()} figure"
    return f"{kind} of {graph.name}: blocks style"
