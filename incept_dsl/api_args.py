"""Checks of the Python API's arguments: a bad argument is a `UsageError` saying what is wanted,
never a `TypeError`/`KeyError`/`AttributeError` from deep inside (`api.py`, `model.py`)."""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Callable, Mapping
from numbers import Integral
from pathlib import Path
from typing import Any

from incept_dsl.errors import UsageError, did_you_mean
from incept_dsl.ir.limits import MAX_TENSOR_ELEMENTS

OPT_LEVELS = (0, 1, 2)


def display_path(path: str | os.PathLike[str]) -> str:
    """`path` for a message or a listing: control characters (ESC, bidi overrides, newlines) and
    lone surrogates escaped as Python would write them, everything else as is."""
    text = os.fspath(path)
    if text.isprintable() and not _has_surrogates(text):
        return text
    out = []
    for c in text:
        if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF:
            out.append(c)
        else:
            out.append(repr(c)[1:-1] if c not in "'\"" else c)
    return "".join(out)


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_path(value: Any, what: str = "path") -> Path:
    """A file name (`str` or `os.PathLike` of str) as a `Path`."""
    if isinstance(value, str | os.PathLike):
        text = os.fspath(value)
        if isinstance(text, str):
            if text == "":
                raise UsageError("no file named ''")
            if "\0" in text:
                raise UsageError(f"not a valid file name: {display_path(text)!r}")
            return Path(text)
    raise UsageError(f"{what} must be a file name (str or os.PathLike); got {_kind(value)}")


def check_text(value: Any, what: str = "text") -> str:
    """Program text: a `str` that is valid Unicode (no lone surrogates)."""
    if not isinstance(value, str):
        raise UsageError(f"{what} must be a str of program text; got {_kind(value)}")
    if _has_surrogates(value):
        raise UsageError(f"{what} is not valid Unicode text (it has lone surrogates)")
    return value


def check_name(value: Any, what: str) -> str | None:
    """An optional name (`model=`, `name=`): a str or None."""
    if value is not None and not isinstance(value, str):
        raise UsageError(f"{what} must be a str or None; got {_kind(value)}")
    return value


def check_params(value: Any) -> Mapping[str, Any] | None:
    """`params`: None or a mapping from parameter names (str) to values (or their source text)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise UsageError(
            f"params must be a mapping of parameter names to values, e.g. {{'classes': 10}}; "
            f"got {_kind(value)}"
        )
    for key in value:
        if not isinstance(key, str):
            raise UsageError(f"params keys must be parameter names (str); got {key!r}")
    return value


def check_dims(dims: Any, shown: str) -> tuple[int, ...]:
    """A shape: 1 or 3 whole numbers (not bools) from 1 to the tensor-size limit."""
    bad = UsageError(
        f"cannot read the shape {shown}; write it as CxHxW (positive whole numbers), "
        "e.g. 3x224x224 or (3, 224, 224)"
    )
    if not isinstance(dims, tuple | list) or len(dims) not in (1, 3):
        raise bad
    out = []
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, Integral):
            raise bad
        n = int(d)
        if n < 1:
            raise bad
        if n > MAX_TENSOR_ELEMENTS:
            raise UsageError(
                f"the shape {shown} is too large: a dimension is at most {MAX_TENSOR_ELEMENTS:,}"
            )
        out.append(n)
    return tuple(out)


def check_input_shape(value: Any) -> tuple[int, ...] | None:
    """`input_shape`: None, `"3x224x224"` (or `"224"`) or a tuple of positive ints."""
    if value is None:
        return None
    if isinstance(value, str):
        return parse_shape(value)
    return check_dims(value, repr(value))


def check_opt_level(value: Any) -> int:
    if isinstance(value, bool) or value not in OPT_LEVELS or not isinstance(value, int):
        raise UsageError(f"opt_level must be 0, 1 or 2; got {value!r}")
    return value


def check_init(value: Any) -> str | None:
    from incept_dsl.backends.torch.init_schemes import INIT_SCHEMES

    if value is None:
        return None
    if not isinstance(value, str) or value not in INIT_SCHEMES:
        hint = did_you_mean(value, INIT_SCHEMES) if isinstance(value, str) else None
        raise UsageError(
            f"unknown init scheme {value!r}; choose from {', '.join(INIT_SCHEMES)}"
            + (f"; {hint}" if hint else "")
        )
    return value


def check_bool(value: Any, what: str) -> None:
    if not isinstance(value, bool):
        raise UsageError(f"{what} must be True or False; got {value!r}")


def check_options(what: str, options: Mapping[str, Any], hints: Mapping[str, Any]) -> None:
    """Keyword options against their annotations (`typing.get_type_hints`): an unknown name or a
    value of the wrong type is a `UsageError`."""
    for key, value in options.items():
        if key not in hints:
            hint = did_you_mean(key, hints)
            raise UsageError(
                f"{what} has no option '{key}' (it takes: {', '.join(hints)})"
                + (f"; {hint}" if hint else "")
            )
        if not _matches(value, hints[key]):
            raise UsageError(f"{what}'s option {key} must be {_show(hints[key])}; got {value!r}")


def hints_of(obj: Callable[..., Any] | type, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    try:
        hints = typing.get_type_hints(obj)
    except Exception:  # an annotation that does not resolve at run time: names only
        import inspect

        hints = {k: Any for k in inspect.signature(obj).parameters}
    return {k: v for k, v in hints.items() if k != "return" and k not in skip}


def _matches(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return any(_matches(value, h) for h in typing.get_args(hint))
    if hint is None or hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # a generic annotation: left to the callee


def _show(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return " or ".join(_show(h) for h in typing.get_args(hint))
    if hint is type(None):
        return "None"
    return getattr(hint, "__name__", str(hint))


def state_dict_error(err: Exception) -> UsageError:
    """A `UsageError` for weights that `load_state_dict` (or the optimiser) refused."""
    text = str(err).strip().replace("\n\t", "; ").replace("\n", " ")
    return UsageError(f"the state_dict does not fit this model: {text}")


def check_state_dict(value: Any) -> dict[str, Any] | None:
    """`state_dict`: None, or a mapping of str keys to dense torch tensors with values (not on the
    meta device), of a floating dtype except `num_batches_tracked`. The first offending key is
    named. Whether the keys and shapes fit the model is the driver's one check
    (`incept_dsl.driver.check_weights`)."""
    import torch

    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise UsageError(
            f"state_dict must be a mapping (a module's state_dict()); got {_kind(value)}"
        )
    for key, got in value.items():
        if not isinstance(key, str):
            raise UsageError(f"state_dict keys must be str; got {key!r}")
        if not isinstance(got, torch.Tensor):
            raise UsageError(f"state_dict['{key}'] must be a torch tensor; got {_kind(got)}")
        if got.is_meta:
            raise UsageError(f"state_dict['{key}'] is a meta tensor: it has no values")
        if got.layout != torch.strided or got.is_quantized:
            raise UsageError(f"state_dict['{key}'] must be a dense tensor; got {got.layout}")
        if not key.endswith(".num_batches_tracked") and not got.dtype.is_floating_point:
            raise UsageError(
                f"state_dict['{key}'] has dtype {got.dtype}; the model needs a floating-point one"
            )
    return dict(value)


def _kind(value: Any) -> str:
    """`value`'s type, with the value itself when it is short."""
    shown = repr(value)
    return f"{type(value).__name__} {shown}" if len(shown) < 40 else type(value).__name__


def parse_shape(text: str) -> tuple[int, ...]:
    """`3x224x224` (or `224`, which means 3×224×224) as a shape tuple; `UsageError` otherwise."""
    if not isinstance(text, str):
        raise UsageError(f"parse_shape takes text such as '3x224x224'; got {text!r}")
    parts = text.strip().lower().replace("×", "x").split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise UsageError(
            f"cannot read the shape {text!r}; write it as CxHxW, e.g. 3x224x224"
        ) from None
    if len(dims) == 1:
        dims = (3, dims[0], dims[0])
    return check_dims(dims, repr(text))
