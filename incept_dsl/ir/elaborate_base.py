"""The elaborator's state and its bookkeeping: counting work against `MAX_WORK`, evaluating
arguments, checking elements without shapes, and adding IR nodes within the size limits.

`ElaboratorBase` is the bottom layer of `Elaborator` (`incept_dsl.ir.elaborate_model`); each
layer above it (bounds, ops, structure, blocks, elements, statements) lowers one kind of thing.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from incept_dsl.errors import InceptError, InceptLimitError, InceptShapeError, Note
from incept_dsl.frontend import ast
from incept_dsl.frontend.loader import Unit
from incept_dsl.ir import values as V
from incept_dsl.ir.args import Bound, bind_args
from incept_dsl.ir.elaborate_context import Abort, Copying, Ctx
from incept_dsl.ir.graph import Graph
from incept_dsl.ir.limits import (
    MAX_CHANNELS,
    MAX_LAYER_PARAMS,
    MAX_NODES,
    MAX_TENSOR_ELEMENTS,
    MAX_WORK,
)
from incept_dsl.ir.ops import infer_shape, param_count
from incept_dsl.ir.shapes import ShapeProblem
from incept_dsl.ir.static import ShapelessChecker
from incept_dsl.source import Span
from incept_dsl.text import fmt_shape


class ElaboratorBase(ABC):
    """The state of one model's elaboration and the steps every layer shares."""

    def __init__(
        self,
        unit: Unit,
        model: ast.ModelDef,
        params: Mapping[str, Any] | None,
        input_shape: tuple[int, ...] | None,
    ) -> None:
        self.unit = unit
        self.model = model
        self.g = Graph(model.name)
        self.overrides = dict(params or {})
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        #: the caller's input_shape differs from the declared one: `expect` checks channels only
        self.resized = False
        self.defaults: dict[str, dict[str, tuple[Any, Span]]] = {}
        self.defaults_span: dict[str, Span] = {}
        self.tensors: dict[str, tuple[int, Span]] = {}
        #: the names of `self.g.heads`, kept alongside it (a head-name check stays O(1))
        self.head_names: set[str] = set()
        self.later: dict[str, Span] = {}
        #: names whose statement failed (-> where they were bound): readers are skipped quietly
        self.poisoned: dict[str, Span] = {}
        #: elaboration steps so far (see `MAX_WORK`)
        self.work = 0
        #: the repeats being elaborated, outermost first
        self.copying: list[Copying] = []
        #: block applications whose body failed: (block, arguments, input shape, depth) -> error
        self.failed: dict[tuple, InceptError] = {}
        #: the blocks whose body has been elaborated (the others are checked without shapes)
        self.entered: set[tuple[str, int]] = set()
        #: per block: at least how many steps and nodes one application of it takes
        self.bounds: dict[tuple[str, int], tuple[int, int]] = {}
        self._sizes: dict[int, int] = {}

    # ---- defined by the layers above (the final `Elaborator` has both) ----------------------
    @abstractmethod
    def _run(self, elements: Sequence[ast.Element], x: int, ctx: Ctx) -> int:
        """Apply `elements` in sequence to `x` (`incept_dsl.ir.elaborate_elements`)."""

    @abstractmethod
    def _tensor(self, name: str, span: Span) -> int:
        """The node of a bound tensor (`incept_dsl.ir.elaborate_model`)."""

    # ---- work ----------------------------------------------------------------------------------
    def _charge(self, units: int, span: Span, ctx: Ctx) -> None:
        """Count `units` elaboration steps; past `MAX_WORK` the model stops with a located error
        (at the outermost repeat or block application under way)."""
        self.work += units
        if self.work > MAX_WORK:
            raise Abort(self._work_error(span, ctx))

    def _work_error(self, span: Span, ctx: Ctx) -> InceptError:
        notes: list[Note] = []
        if self.copying:
            outer = self.copying[0]
            where = outer.span
            for c in self.copying[1:]:
                notes.append(Note(f"nested repeat({c.n}) here", c.span))
            what = f"repeat({outer.n}) and what it contains"
        elif ctx.stack:
            where = ctx.stack[0][2]
            what = f"block '{ctx.stack[0][1]}' and what it applies"
        else:
            where, what = span, "this element"
        chain = ctx.stack[1:] if not self.copying else ctx.stack
        for _, bname, bspan in chain[:6]:
            notes.append(Note(f"which applies block '{bname}' here", bspan))
        if len(chain) > 6:
            notes.append(Note(f"... and {len(chain) - 6} more nested block applications"))
        if span is not where:
            notes.append(Note("the limit was reached here", span))
        return InceptLimitError(
            f"{what} take more than {MAX_WORK:,} elaboration steps; the limit for a model is "
            f"{MAX_WORK:,}",
            where,
            notes=notes[:12],
            hint="each application of a block and each copy of a repeat elaborates its body "
            "again, so nested ones multiply",
        )

    # ---- values and arguments ------------------------------------------------------------------
    def _value(self, expr: ast.Expr, ctx: Ctx) -> Any:
        """Evaluate an argument expression in `ctx`, counting its size as work."""
        size = self._sizes.get(id(expr))
        if size is None:
            size = self._sizes[id(expr)] = _expr_size(expr)
        self._charge(size, expr.span, ctx)
        return V.evaluate(expr, ctx.env)

    def _bind_args(
        self,
        names: Sequence[str],
        args: ast.Args | None,
        what: str,
        ctx: Ctx,
        errors: list[InceptError],
    ) -> Bound:
        """`bind_args` with values evaluated in `ctx` (mistakes appended to `errors`)."""
        return bind_args(names, args, what, lambda e: self._value(e, ctx), errors)

    def _shapeless(
        self,
        elements: Sequence[ast.Element],
        ctx: Ctx,
        errors: list[InceptError],
        unknown: Sequence[str] = (),
    ) -> None:
        """Check `elements` without shapes (after an element before them failed); the names in
        `unknown` are left unknown to the check."""
        checker = ShapelessChecker(
            ctx.env,
            unknown,
            ctx.blocks,
            self.defaults,
            set(self.tensors) | set(self.later),
            charge=lambda span: self._charge(1, span, ctx),
            dims=ctx.dims,
        )
        checker.pipeline(elements, errors)

    # ---- nodes ---------------------------------------------------------------------------------
    def _add(
        self,
        op: str,
        attrs: dict[str, Any],
        inputs: list[int],
        scope: str,
        span: Span,
        shape: tuple[int, ...] | None = None,
    ) -> int:
        if shape is None:
            try:
                shape = infer_shape(op, attrs, [self.g.shape(i) for i in inputs])
            except ShapeProblem as p:
                got = ", ".join(fmt_shape(self.g.shape(i)) for i in inputs)
                raise InceptShapeError(
                    p.message, span, hint=p.hint, notes=[Note(f"its input is {got}")]
                ) from None
        if len(self.g) >= MAX_NODES:
            raise Abort(
                InceptLimitError(
                    f"the model has more than {MAX_NODES:,} ops",
                    span,
                    hint="check the repeat counts",
                )
            )
        check_size(op, attrs, shape, span)
        return self.g.add_node(op, attrs, inputs, shape, scope, span)


def check_size(op: str, attrs: dict[str, Any], shape: tuple[int, ...], span: Span) -> None:
    """Refuse tensors and layers past the size limits (nothing is allocated to find out)."""
    if len(shape) == 3 and shape[0] > MAX_CHANNELS:
        raise InceptLimitError(
            f"{op} produces {shape[0]:,} channels; the limit is {MAX_CHANNELS:,}", span
        )
    if len(shape) == 1 and op == "linear" and shape[0] > MAX_CHANNELS:
        raise InceptLimitError(
            f"linear produces {shape[0]:,} features; the limit is {MAX_CHANNELS:,}", span
        )
    elements = math.prod(shape)
    if elements > MAX_TENSOR_ELEMENTS:
        what = "the input is" if op == "input" else f"{op} produces"
        raise InceptLimitError(
            f"{what} a {fmt_shape(shape)} tensor: {elements:,} elements per sample; the "
            f"limit is {MAX_TENSOR_ELEMENTS:,}",
            span,
        )
    if op == "lrn" and len(shape) == 3:  # PyTorch pads the channels by the window to sum them
        padded = (shape[0] + attrs["size"] - 1) * shape[1] * shape[2]
        if padded > MAX_TENSOR_ELEMENTS:
            raise InceptLimitError(
                f"lrn(size = {attrs['size']:,}) pads this {fmt_shape(shape)} tensor to "
                f"{padded:,} elements per sample; the limit is {MAX_TENSOR_ELEMENTS:,}",
                span,
                hint="a window wider than twice the channels sums every channel anyway",
            )
    params = param_count(op, attrs)[0]
    if params > MAX_LAYER_PARAMS:
        raise InceptLimitError(
            f"this {op} has {params:,} parameters; the limit for one layer is {MAX_LAYER_PARAMS:,}",
            span,
        )


def _expr_size(expr: ast.Expr) -> int:
    """The number of nodes of an expression (the work of evaluating it)."""
    if isinstance(expr, ast.BinOp):
        return 1 + _expr_size(expr.left) + _expr_size(expr.right)
    if isinstance(expr, ast.UnaryOp):
        return 1 + _expr_size(expr.operand)
    if isinstance(expr, ast.FuncCall):
        return 1 + sum(_expr_size(e) for e in expr.args)
    if isinstance(expr, ast.TupleLit):
        return 1 + sum(_expr_size(e) for e in expr.items)
    if isinstance(expr, ast.ShapeLit):
        return len(expr.dims)
    return 1
