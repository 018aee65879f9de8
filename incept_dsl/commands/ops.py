"""`incept-dsl ops [NAME]`: every built-in op with its arguments and defaults, or one op in full.

The listing reads the surface signatures (`incept_dsl.frontend.signatures`), so it is never out of
date: one line per op (its arguments, defaults written as in a program, aliases, what it does).
`NAME` shows one op, each argument with its kind and valid values; an unknown name exits 2 with a
suggestion (close spellings, and names users type for an op the language spells otherwise:
`hswish` -> `hardswish`).
"""

from __future__ import annotations

import argparse
from typing import Any

from incept_dsl.errors import UsageError, did_you_mean
from incept_dsl.frontend.signatures import (
    ACTIVATIONS,
    ALIASES,
    REQUIRED,
    SIGNATURES,
    Arg,
    Signature,
)
from incept_dsl.frontend.synonyms import synonym_hint

HELP = "list the built-in ops with their arguments and defaults (or show one op)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", metavar="NAME", help="show one op in full")


#: how each argument kind (`incept_dsl.ir.args`) reads, in the user's words
KIND_TEXT = {
    "count": "a whole number >= 1",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "pair": "a whole number or HxW (e.g. 3 or 1x7)",
    "pair0": "a whole number >= 0 or HxW (e.g. 0 or 1x0)",
    "pool_kernel": "a whole number, HxW, or global",
    "padding": "same, valid, a whole number or (h, w)",
    "bias": "true, false or auto (a bias unless bn = true)",
    "act": "an activation ({acts}) or none",
    "shape": "a shape CxHxW",
    "drop_mode": "row (each sample) or batch (the whole batch)",
    "resize_mode": "nearest or bilinear",
}


def kind_text(kind: str) -> str:
    return KIND_TEXT.get(kind, kind).format(acts=", ".join(ACTIVATIONS))


def value_text(value: Any) -> str:
    """A default as a program writes it: `true`, `none`, `same`, `1e-05`, `(1, 1)`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return "(" + ", ".join(value_text(v) for v in value) + ")"
    return str(value)


def arg_text(arg: Arg) -> str:
    return arg.name if arg.default is REQUIRED else f"{arg.name} = {value_text(arg.default)}"


def op_line(sig: Signature) -> str:
    """`conv(out, kernel, stride = 1, ...)`: the op as a call with every argument."""
    return f"{sig.name}({', '.join(arg_text(a) for a in sig.args)})" if sig.args else sig.name


def listing() -> str:
    """Every op, alphabetically: its call form, aliases and one-line doc."""
    lines = []
    for name in sorted(SIGNATURES):
        sig = SIGNATURES[name]
        also = f" (also {', '.join(sig.aliases)})" if sig.aliases else ""
        lines.append(f"{op_line(sig)}{also}\n    {sig.doc}")
    return "\n".join(lines)


def detail(name: str) -> str:
    """One op in full: call form, doc, aliases, and each argument's kind, default and range."""
    canonical = ALIASES.get(name, name)
    if canonical not in SIGNATURES:
        hint = synonym_hint(name, SIGNATURES) or did_you_mean(name, [*SIGNATURES, *ALIASES])
        raise UsageError(f"no op named '{name}'" + (f"; {hint}" if hint else ""))
    sig = SIGNATURES[canonical]
    lines = [op_line(sig), f"    {sig.doc}"]
    if sig.aliases:
        lines.append(f"    also written: {', '.join(sig.aliases)}")
    for a in sig.args:
        default = "required" if a.default is REQUIRED else f"default {value_text(a.default)}"
        valid = f"; {a.valid.text}" if a.valid is not None and a.valid.text else ""
        lines.append(f"  {a.name}: {kind_text(a.kind)}; {default}{valid}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    print(detail(args.name) if args.name else listing())
    return 0
