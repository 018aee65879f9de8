"""Checking pipelines without shapes: what can be known before (or without) elaborating them.

Two uses:

- the body of a block that nothing applies is still checked (a compiler checks unused functions
  too), with the block's parameters unknown;
- after an element fails in elaboration, the elements after it are checked this way (their input
  shape is no longer known), so a statement reports every independent mistake but none that a
  previous one caused.

Guarantee (soundness): every error reported here is an error in every elaboration of the same
elements, whatever the unknown values are. So the check reports unknown ops and blocks (with
did-you-mean), unknown or repeated keywords, too many positional arguments, missing arguments of a
block, and values that fail their kind or range (`conv(8, 0)`, `bn(eps = 0)`, `act = rleu`) or an
op's rules between arguments — each only when it does not depend on an unknown value. A missing
required op argument is reported only when the model's `defaults` are known (a model may supply
it, e.g. `defaults conv(kernel = 3)`). The check never enters a block it applies (each block body
is checked on its own), never expands a `repeat`, and walks each element once: its work is linear
in the size of the source.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from incept_dsl.errors import InceptError
from incept_dsl.frontend import ast
from incept_dsl.frontend.loader import BlockTable
from incept_dsl.frontend.signatures import SIGNATURES, canonical_op
from incept_dsl.ir import values as V
from incept_dsl.ir.arg_mistakes import (
    join_inside,
    missing_block_param,
    no_branches,
    not_an_op,
    tensor_as_op,
    unknown_callee,
)
from incept_dsl.ir.args import (
    EXPECT_PARAMS,
    REPEAT_PARAMS,
    RESIDUAL_PARAMS,
    UNKNOWN,
    bind_args,
    collect,
    expect_shape,
    has_unknown_keyword,
    misspelt,
    op_args,
    repeat_count,
    residual_scale,
)
from incept_dsl.source import Span

#: Per op, the model's `defaults` (keyword -> raw value and its span).
Defaults = Mapping[str, Mapping[str, tuple[Any, Span]]]


def block_dims(params: Collection[str], env: Mapping[str, Any]) -> frozenset[str]:
    """The input dimensions (`in_channels`, `in_height`, `in_width`) that the body of a block
    with the parameters `params`, defined where `env` holds, reads: those that neither a
    parameter of the block nor a name of `env` (a parameter of the model around it) shadows."""
    return frozenset(d for d in V.INPUT_DIMS if d not in params and d not in env)


class ShapelessChecker:
    """Checks elements against names and the op table, with no input shape.

    `env` holds the known parameter values; the names in `unknown` (a block's parameters, which
    shadow `env`) have values known only when the block is applied. `dims` are the input
    dimensions visible here (`block_dims`): values in expressions, unknown unless `env` holds
    them, and never the name of an op or a block. `blocks` are the blocks visible here;
    `defaults` the model's defaults per op (None: the model is not known, as for a top-level
    block); `tensors` the model's tensor names (for "is a tensor, not an op"). `charge`, when
    given, is called once per element checked (elaboration counts it as work).
    """

    def __init__(
        self,
        env: Mapping[str, Any],
        unknown: Collection[str],
        blocks: BlockTable,
        defaults: Defaults | None,
        tensors: Collection[str] = (),
        charge: Callable[[Span], None] | None = None,
        dims: Collection[str] = (),
    ) -> None:
        self.env = env
        self.params = frozenset(unknown)
        self.dims = frozenset(dims)
        #: the names whose values are not known here: expressions that read them are UNKNOWN
        self.unknown = self.params | frozenset(d for d in self.dims if d not in env)
        self.blocks = blocks
        self.defaults = defaults
        self.tensors = tensors
        self.charge = charge

    def pipeline(self, elements: Sequence[ast.Element], errors: list[InceptError]) -> None:
        """Check `elements` in order; append every mistake found to `errors`."""
        for el in elements:
            self.element(el, errors)

    def element(self, el: ast.Element, errors: list[InceptError]) -> None:
        """Check one element (and the pipelines nested in it); append mistakes to `errors`."""
        if self.charge is not None:
            self.charge(el.span)
        if isinstance(el, ast.Named):
            self.element(el.element, errors)
        elif isinstance(el, ast.Call):
            self._call(el, errors)
        elif isinstance(el, ast.Branches):
            if not el.branches:
                errors.append(no_branches(el))
            for br in el.branches:
                self.pipeline(br.pipeline.elements, errors)
        elif isinstance(el, ast.Residual):
            given = bind_args(RESIDUAL_PARAMS, el.args, "residual", self.value, errors)
            collect(errors, residual_scale, given)
            self.pipeline(el.body.elements, errors)
        elif isinstance(el, ast.Repeat):
            given = bind_args(REPEAT_PARAMS, el.args, "repeat", self.value, errors)
            collect(errors, repeat_count, given, el.span)
            self.pipeline(el.body.elements, errors)
        elif isinstance(el, ast.Group):
            self.pipeline(el.pipeline.elements, errors)
        elif isinstance(el, ast.Join):
            errors.append(join_inside(el))

    def value(self, expr: ast.Expr) -> Any:
        """The value of `expr`, or `UNKNOWN` when it reads an unknown parameter (after the parts
        of it that do not were checked)."""
        if self.unknown and V.reads(expr, self.unknown):
            V.check_known_parts(expr, self.env, self.unknown)
            return UNKNOWN
        return V.evaluate(expr, self.env)

    def _call(self, call: ast.Call, errors: list[InceptError]) -> None:
        target = call.name
        if target in self.params:
            return  # a parameter: the op or block it names is known only when applied
        if target in self.env and target not in self.dims:
            value = self.env[target]
            if not isinstance(value, V.Sym):
                errors.append(not_an_op(target, value, call.name_span))
                return
            target = value.name
        if target == "expect":
            given = bind_args(EXPECT_PARAMS, call.args, "expect", self.value, errors)
            collect(errors, expect_shape, given, call.span)
            return
        entry = self.blocks.lookup(target)
        if entry is not None:
            defn = entry.defn
            names = tuple(p.name for p in defn.params)
            given = bind_args(names, call.args, defn.name, self.value, errors)
            typos = misspelt(call.args, names)
            for p in defn.params:
                if p.name not in given and p.default is None and p.name not in typos:
                    errors.append(missing_block_param(defn, p, call.span))
            return
        op = canonical_op(target)
        if op is not None:
            sig = SIGNATURES[op]
            given = bind_args(sig.arg_names, call.args, sig.name, self.value, errors)
            defaults = None if self.defaults is None else self.defaults.get(sig.name, {})
            names = sig.arg_names
            typos = misspelt(call.args, names)
            unknown = has_unknown_keyword(call.args, names)
            op_args(sig, given, defaults, call.span, errors, typos, unknown)
            return
        if target in self.tensors:
            errors.append(tensor_as_op(target, call.name_span))
        else:
            errors.append(unknown_callee(target, call.name_span, self.blocks.names()))
