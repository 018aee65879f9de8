"""The words of the mistakes that elaboration and the check without shapes share (unknown
keywords, callees and joins in the wrong place), so that both report one mistake in the same words
and `InceptErrors` keeps one copy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from incept_dsl.errors import InceptError, InceptNameError, InceptTypeError, Note, did_you_mean
from incept_dsl.frontend import ast
from incept_dsl.frontend.signatures import surface_op_names
from incept_dsl.frontend.synonyms import synonym_hint
from incept_dsl.ir import values as V
from incept_dsl.source import Span


def unknown_keyword(what: str, kw: ast.KwArg, names: Sequence[str]) -> InceptError:
    """`what` has no parameter named like the keyword `kw`."""
    hint = did_you_mean(kw.name, names)
    known = ", ".join(names) if names else "none"
    return InceptNameError(
        f"'{what}' has no parameter '{kw.name}' (it takes: {known})", kw.name_span, hint=hint
    )


def unknown_callee(target: str, span: Span, blocks: Iterable[str]) -> InceptError:
    """`target` names no op and no visible block."""
    names = [*surface_op_names(), *blocks]
    hint = synonym_hint(target, names) or did_you_mean(target, names)
    return InceptNameError(f"unknown op or block '{target}'", span, hint=hint)


def tensor_as_op(target: str, span: Span) -> InceptError:
    """A pipeline element names a tensor of the model."""
    return InceptTypeError(
        f"'{target}' is a tensor, not an op; only the start of a binding reads a tensor",
        span,
        hint="to combine tensors, start a binding with concat(a, b) or add(a, b)",
    )


def not_an_op(target: str, value: Any, span: Span) -> InceptError:
    """A pipeline element names a parameter whose value is no op or block name."""
    return InceptTypeError(f"parameter '{target}' is {V.describe(value)}, not an op or block", span)


def join_inside(el: ast.Join) -> InceptError:
    """`concat(a, b)` after the start of a pipeline."""
    return InceptTypeError(
        f"{el.kind}(a, b) joins bound tensors and can only start a binding",
        el.span,
        hint=f"to apply branches to the current tensor, write `{el.kind} {{ ... }}`",
    )


def no_branches(el: ast.Branches) -> InceptError:
    """`concat { }` without a branch."""
    return InceptTypeError(f"{el.kind} {{ }} needs at least one branch", el.span)


def missing_block_param(defn: ast.BlockDef, param: ast.Param, span: Span) -> InceptError:
    """A block applied without a value for a parameter that has no default."""
    return InceptTypeError(
        f"block '{defn.name}' needs a value for its parameter '{param.name}'",
        span,
        notes=[Note(f"'{defn.name}' is defined here", defn.name_span)],
    )
