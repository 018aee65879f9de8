"""Graphviz's `dot` program run on DOT text (`render`), and the figure file formats (`FORMATS`,
`format_of`).

Guarantees: `render` raises `UsageError` naming how to install Graphviz when the `dot` program is
missing, and one when the layout runs too long or Graphviz refuses the figure; the same DOT text
gives the same bytes (PDF creation dates are fixed).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from incept_dsl.errors import UsageError

#: Output formats `render` writes (by file suffix); "dot" is the DOT text itself.
FORMATS = ("dot", "svg", "pdf", "png")
#: format -> the file name endings a figure file in it may have (the first is the default's)
SUFFIXES: dict[str, tuple[str, ...]] = {
    "dot": (".dot", ".gv"),
    "svg": (".svg",),
    "pdf": (".pdf",),
    "png": (".png",),
}
#: PNG resolution (dots per inch): sharp enough for slides and print previews.
PNG_DPI = 200
#: Seconds Graphviz's `dot` may take to lay out a figure before `render` gives up.
RENDER_TIMEOUT_S = 120.0

INSTALL_HINT = (
    "install Graphviz: `sudo apt-get install graphviz` (Debian/Ubuntu), "
    "`brew install graphviz` (macOS), or `conda install -c conda-forge graphviz`; "
    "or write the DOT text with `-o FILE.dot`, which needs no Graphviz"
)


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
