"""Checking overridden model parameters (`--set k=v`, `params=`) against their defaults' kinds.

`check_overrides` guarantees: a value whose kind the parameter's default rules out is a
`UsageError` that names the parameter, the model, the kind expected and the value given, raised
before the model is elaborated (so `--set classes=ten` is the caller's mistake, not an error
located in the program). The rules, chosen to never refuse a value a program could use:

- a default that is a number, a shape or a tuple takes a number, a shape or a tuple (a kernel
  size may be `3` or `(1, 7)`, a width `1` or `0.5`);
- a default that is a boolean takes a boolean;
- a default that is a name (`act = relu`, `padding = same`) or that cannot be evaluated on its
  own, and a parameter without a default, take anything (the program checks the value where it
  is used, with a located error).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from incept_dsl.errors import InceptError, UsageError
from incept_dsl.frontend.loader import Unit
from incept_dsl.ir.values import Sym, describe, evaluate, show

_EXPECTED = {"number": "a number or a shape", "bool": "a boolean (true or false)"}


def _kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float | tuple):
        return "number"
    if isinstance(value, Sym):
        return "name"
    return None


def check_overrides(unit: Unit, model: str | None, params: Mapping[str, Any] | None) -> None:
    """Raise a `UsageError` for an override of the wrong kind (see the module doc)."""
    if not params:
        return
    from incept_dsl.ir.build import pick_model

    m = pick_model(unit, model)
    env: dict[str, Any] = {}
    for p in m.params:
        default = None
        if p.default is not None:
            try:
                default = evaluate(p.default, env)
            except InceptError:
                default = None
        if p.name not in params:
            if default is None:
                return  # later defaults may depend on this one: stop checking here
            env[p.name] = default
            continue
        value = params[p.name]
        env[p.name] = value
        wanted, got = _kind(default), _kind(value)
        if wanted in _EXPECTED and got != wanted:
            raise UsageError(
                f"--set {p.name}: model '{m.name}' takes {_EXPECTED[wanted]} for '{p.name}' "
                f"(its default is {show(default)}); got {describe(value)}"
            )
