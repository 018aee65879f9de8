"""The page's state for one view: the choices, the figure, the table and the current errors.

`page_state(workspace, query)` is what `/state` answers (JSON). The figure is inline SVG from our
own renderer (or None while the program does not load: the page keeps the last good figure);
errors are plain text (the page writes them with `textContent`, so nothing in them is markup).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from incept_dsl.errors import InceptError, UsageError
from incept_dsl.preview.choices import STYLES, TABLE_VIEWS, View, pick, view_of
from incept_dsl.preview.render import block_choices, figure_bytes, table_text
from incept_dsl.preview.workspace import Workspace, error_text


def internal_error(err: Exception) -> str:
    """The page's text for an unexpected failure of the compiler (a bug to report)."""
    if isinstance(err, RecursionError):
        return "error: the program nests too deep to check"
    return f"internal compiler error: {type(err).__name__}: {err} (please report it)"


def load_model(ws: Workspace, name: str) -> Any:
    """The model `name` at the current version (cached), or the error text when it fails."""

    def make() -> Any:
        from incept_dsl.api import load

        try:
            model = load(ws.path, model=name or None)
        except (InceptError, UsageError) as err:
            return error_text(err)
        except Exception as err:  # noqa: BLE001 - shown on the page, never a server error
            return internal_error(err)
        ws.set_blocks(model.name, block_choices(model))
        return model

    return ws.cached("model", View(model=name), make)


def checked_view(ws: Workspace, query: Mapping[str, str]) -> tuple[View, Any]:
    """(the view a query asks for, its model or error text); `Refused` for unknown names."""
    name = ws.model_name(pick(query, "model", ws.models(), ""))  # the blocks are the model's
    model = load_model(ws, name)
    view = view_of(query, ws.models(), ws.blocks(name))
    return replace(view, model=name), model


def _rendered(ws: Workspace, view: View, model: Any) -> dict[str, Any]:
    """{svg, table, error} of a loaded model (a figure error leaves the table drawn)."""

    def make() -> dict[str, Any]:
        out: dict[str, Any] = {"svg": None, "table": None, "error": None}
        try:
            out["table"] = table_text(model, view)
            out["svg"] = figure_bytes(model, view, "svg").decode("utf-8")
        except (InceptError, UsageError) as err:
            out["error"] = error_text(err)
        except Exception as err:  # noqa: BLE001 - shown on the page, never a server error
            out["error"] = internal_error(err)
        return out

    return dict(ws.cached("render", view, make))


def page_state(ws: Workspace, query: Mapping[str, str]) -> dict[str, Any]:
    """The JSON state of the page for `query` (see the module docstring)."""
    view, model = checked_view(ws, query)
    snap = ws.snapshot()
    errors = [snap.error] if snap.error else []
    drawn: dict[str, Any] = {"svg": None, "table": None}
    if isinstance(model, str):
        if model not in errors:
            errors.append(model)
    else:
        drawn = _rendered(ws, view, model)
        error = drawn.pop("error")
        if error:
            errors.append(error)
    return {
        "version": snap.version,
        "file": ws.path.name,
        "models": ws.models(),
        "model": view.model,
        "blocks": ws.blocks(view.model),
        "block": view.block,
        "styles": list(STYLES),
        "style": view.style,
        "table_views": list(TABLE_VIEWS),
        "by": view.by,
        "svg": drawn["svg"],
        "table": drawn["table"],
        "errors": errors,
    }
