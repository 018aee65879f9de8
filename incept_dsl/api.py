"""The Python API: `load`, `loads`, `load_all`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from incept_dsl.api_args import (
    check_input_shape,
    check_name,
    check_params,
    check_path,
    check_text,
)
from incept_dsl.api_args import parse_shape as parse_shape  # the public name
from incept_dsl.errors import InceptError, InceptErrors, UsageError, did_you_mean
from incept_dsl.frontend.loader import Loader, Unit
from incept_dsl.frontend.parser import parse_expr
from incept_dsl.ir.build import build_model, check_blocks
from incept_dsl.ir.values import evaluate
from incept_dsl.model import Model
from incept_dsl.param_kinds import check_overrides
from incept_dsl.perf import ensure_recursion_limit
from incept_dsl.resources import resolve_program_path


def parse_value(text: str) -> Any:
    """A `--set` value (`100`, `0.5`, `true`, `relu`, `(1, 7)`) as a program value.

    Raises `UsageError` when the text is not an expression.
    """
    check_text(text, "a parameter value")
    try:
        return evaluate(parse_expr(text), {})
    except InceptError as err:
        raise UsageError(f"cannot read the value {text!r}: {err.message}") from None


def _params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    params = check_params(params)
    if params is None:
        return None
    return {k: parse_value(v) if isinstance(v, str) else v for k, v in params.items()}


def _model(
    unit: Unit, model: str | None, params, input_shape, path: Path | None, loader: Loader
) -> Model:
    check_name(model, "model")
    shape = check_input_shape(input_shape)
    values = _params(params)
    check_overrides(unit, model, values)
    graph = build_model(unit, model, values, shape)
    graph.data["source"] = str(path) if path else unit.source.name
    return Model(graph, path, unit.sha256, source_files=tuple(loader.units))


def load(
    path: str | Path,
    model: str | None = None,
    params: Mapping[str, Any] | None = None,
    input_shape: tuple[int, ...] | str | None = None,
) -> Model:
    """Load, check and elaborate one model of an `.incept` file.

    `path` may also name a bundled architecture (`"googlenet.incept"`). `model` picks one model
    of a file with several; `params` overrides model parameters (values or their source text);
    `input_shape` overrides the single input's C×H×W. Mistakes raise `InceptError` (located) or
    `UsageError`.
    """
    ensure_recursion_limit()
    p = resolve_program_path(check_path(path))
    loader = Loader()
    unit = loader.load_path(p)
    return _model(unit, model, params, input_shape, p, loader)


def loads(
    text: str,
    model: str | None = None,
    params: Mapping[str, Any] | None = None,
    input_shape: tuple[int, ...] | str | None = None,
    name: str = "<string>",
    base_dir: str | Path | None = None,
) -> Model:
    """Like `load`, from program text; imports resolve relative to `base_dir` (default: cwd)."""
    ensure_recursion_limit()
    check_text(text)
    name = check_name(name, "name") or "<string>"
    base = Path.cwd() if base_dir is None or base_dir == "" else check_path(base_dir, "base_dir")
    loader = Loader()
    unit = loader.load_text(text, name, base)
    return _model(unit, model, params, input_shape, None, loader)


def load_all(path: str | Path, params: Mapping[str, Any] | None = None) -> list[Model]:
    """Every model of a file, each with its default parameters (or `params` where they apply).

    Each model is checked even when another fails; the errors of all of them are raised together
    (`InceptErrors`, in source order). An empty file is an error; a file of blocks only gives []
    once its blocks' bodies pass the check without arguments (`check_blocks`). A parameter in
    `params` that no model has is a `UsageError`.
    """
    ensure_recursion_limit()
    p = resolve_program_path(check_path(path))
    params = check_params(params)
    loader = Loader()
    unit = loader.load_path(p)
    prog = unit.program
    if not (prog.models or prog.blocks or prog.imports):
        raise InceptError(
            f"{unit.source.name} is empty: it defines no model",
            unit.source.span(0, 0),
            hint="add `model NAME { input ...; output ... }`",
        )
    known = {q.name for m in prog.models for q in m.params}
    unknown = sorted(set(params or {}) - known)
    if unknown and prog.models:
        hint = did_you_mean(unknown[0], known)
        raise UsageError(
            f"no model of {unit.source.name} has a parameter '{unknown[0]}'"
            + (f"; {hint}" if hint else "")
        )
    if not prog.models:  # no model applies the blocks: check them on their own
        check_blocks(unit)
    out, errors = [], []
    for m in prog.models:
        names = {q.name for q in m.params}
        own = {k: v for k, v in (params or {}).items() if k in names}
        try:
            out.append(_model(unit, m.name, own, None, p, loader))
        except InceptError as err:
            errors.append(err)
    if errors:
        raise InceptErrors.of(errors)
    return out
