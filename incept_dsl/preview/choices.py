"""The fixed choices a preview request may make, and their checks.

A request names a model, a block, a figure style, a table view and a download format; each is
checked against a fixed tuple or against the names of the loaded program (`Refused` otherwise),
so nothing a request carries ever reaches the file system or a generated file unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Figure styles: the network (top-level blocks collapsed), every op, PlotNeuralNet-style blocks.
STYLES = ("network", "expand", "blocks")
#: Rows of the cost table: one per IR layer or one per top-level block.
TABLE_VIEWS = ("layer", "block")
#: Figure downloads: format -> (file ending, media type).
FIGURE_DOWNLOADS = {
    "svg": (".svg", "image/svg+xml"),
    "pdf": (".pdf", "application/pdf"),
    "png": (".png", "image/png"),
    "tikz": (".tex", "text/x-tex; charset=utf-8"),
}
#: Cost-table downloads: format (as `Summary.render` names it) -> (file ending, media type).
TABLE_DOWNLOADS = {
    "text": (".txt", "text/plain; charset=utf-8"),
    "markdown": (".md", "text/markdown; charset=utf-8"),
    "csv": (".csv", "text/csv; charset=utf-8"),
    "latex": (".tex", "text/x-tex; charset=utf-8"),
    "json": (".json", "application/json"),
}
#: Longest query value looked at (longer ones are refused before any comparison).
MAX_VALUE_LENGTH = 200
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


class Refused(ValueError):
    """A request value that is not one of the allowed choices (an HTTP 400)."""


@dataclass(frozen=True)
class View:
    """What the page shows: `model` ("" = the default), `block` ("" = the network), the figure
    `style` (one of `STYLES`) and the table rows `by` (one of `TABLE_VIEWS`)."""

    model: str = ""
    block: str = ""
    style: str = "network"
    by: str = "layer"


def pick(query: Mapping[str, str], key: str, allowed: Sequence[str], default: str) -> str:
    """`query[key]` when it is one of `allowed` ("" or absent gives `default`); `Refused` with a
    message listing the choices otherwise."""
    value = query.get(key, "")
    if value == "":
        return default
    if len(value) <= MAX_VALUE_LENGTH and value in allowed:
        return value
    shown = value[:40].encode("ascii", "backslashreplace").decode("ascii")
    listed = ", ".join(allowed[:20]) or "none"
    raise Refused(f"unknown {key} {shown!r}; choose one of: {listed}")


def view_of(query: Mapping[str, str], models: Sequence[str], blocks: Sequence[str]) -> View:
    """The `View` a query asks for, every value checked against the choices (`Refused`)."""
    return View(
        model=pick(query, "model", models, ""),
        block=pick(query, "block", blocks, ""),
        style=pick(query, "style", STYLES, "network"),
        by=pick(query, "by", TABLE_VIEWS, "layer"),
    )


def download_format(query: Mapping[str, str]) -> str:
    """The `fmt` of a download request: a key of `FIGURE_DOWNLOADS` or `TABLE_DOWNLOADS`."""
    return pick(query, "fmt", (*FIGURE_DOWNLOADS, *TABLE_DOWNLOADS), "svg")


def file_name(model: str, view: View, fmt: str) -> str:
    """The suggested name of a download: only letters, digits, `_`, `.` and `-`."""
    if fmt in TABLE_DOWNLOADS:
        stem = f"{model}-costs-by-{view.by}"
        ending = TABLE_DOWNLOADS[fmt][0]
    else:
        part = f"block-{view.block}" if view.block and view.style != "blocks" else view.style
        stem = f"{model}-blocks-tikz" if fmt == "tikz" else f"{model}-{part}"
        ending = FIGURE_DOWNLOADS[fmt][0]
    return _SAFE_NAME.sub("_", stem)[:120] + ending
