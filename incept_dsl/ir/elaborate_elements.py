"""Pipelines: applying elements one after another (with error recovery after a failed one),
sending each element to its lowering, and resolving what a call names (`expect`, a block, an op,
or a mistake)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from incept_dsl.errors import (
    InceptError,
    InceptErrors,
    InceptNameError,
    InceptShapeError,
    Note,
    suggestions_left,
)
from incept_dsl.frontend import ast
from incept_dsl.frontend.signatures import SIGNATURES, canonical_op
from incept_dsl.ir import values as V
from incept_dsl.ir.arg_mistakes import join_inside, not_an_op, tensor_as_op, unknown_callee
from incept_dsl.ir.args import EXPECT_PARAMS, collect, expect_shape, is_known
from incept_dsl.ir.elaborate_blocks import BlockLayer
from incept_dsl.ir.elaborate_context import Abort, Ctx
from incept_dsl.source import Span
from incept_dsl.text import fmt_shape


class ElementLayer(BlockLayer):
    """Runs pipelines and dispatches their elements."""

    def _run(self, elements: Sequence[ast.Element], x: int, ctx: Ctx) -> int:
        """Apply `elements` in sequence to `x` and return the result.

        After an element fails, the next ones are elaborated on when its output shape is its
        input's (an op with `keeps_shape`) and checked without shapes otherwise; then every
        mistake found is raised together.
        """
        errors: list[InceptError] = []
        try:
            for i, el in enumerate(elements):
                try:
                    x = self._element(el, x, ctx)
                except InceptError as err:
                    errors.append(err)
                    if not self._keeps_shape(el, ctx):
                        self._shapeless(elements[i + 1 :], ctx, errors)
                        break
        except Abort as abort:
            abort.errors.extend(errors)
            raise
        if errors:
            raise InceptErrors.of(errors)
        return x

    def _shapeless(
        self,
        elements: Sequence[ast.Element],
        ctx: Ctx,
        errors: list[InceptError],
        unknown: Sequence[str] = (),
    ) -> None:
        """Check `elements` without shapes (after an element before them failed). A parameter
        bound to a block that is not the block of that name visible here (`attn = se`, with `se`
        defined where the caller is) is left unknown: the check looks elements up by name."""
        elsewhere = [
            k
            for k, v in ctx.env.items()
            if isinstance(v, V.BlockRef)
            and k not in ctx.dims
            and (v.entry is None or ctx.blocks.lookup(v.name) is not v.entry)
        ]
        super()._shapeless(elements, ctx, errors, [*unknown, *elsewhere])

    def _keeps_shape(self, el: ast.Element, ctx: Ctx) -> bool:
        """Whether `el` is an op whose output has its input's shape whatever its arguments."""
        if isinstance(el, ast.Named):
            el = el.element
        if not isinstance(el, ast.Call):
            return False
        target = el.name
        if ctx.is_param(target):
            value = ctx.env[target]
            if not isinstance(value, V.Sym) or isinstance(value, V.BlockRef):
                return False
            target = value.name
        if ctx.blocks.lookup(target) is not None:
            return False
        op = canonical_op(target)
        return op is not None and SIGNATURES[op].keeps_shape

    def _element(
        self,
        el: ast.Element,
        x: int,
        ctx: Ctx,
        name: str | None = None,
        name_span: Span | None = None,
    ) -> int:
        if isinstance(el, ast.Named):
            if el.display is not None:  # figures show it (see incept_dsl.frontend.display_names)
                self.g.data.setdefault("display_names", {})[ctx.scope.full(el.name)] = el.display
            return self._element(el.element, x, ctx, el.name, el.name_span)
        self._charge(1, el.span, ctx)
        if isinstance(el, ast.Call):
            return self._call(el, x, ctx, name, name_span)
        if isinstance(el, ast.Branches):
            return self._branches(el, x, ctx, name, name_span)
        if isinstance(el, ast.Residual):
            return self._residual(el, x, ctx, name, name_span)
        if isinstance(el, ast.Repeat):
            return self._repeat(el, x, ctx, name, name_span)
        if isinstance(el, ast.Group):
            inner = ctx
            if name is not None:
                inner = ctx.at(ctx.scope.child(ctx.scope.name("group", name, name_span)))
            return self._run(el.pipeline.elements, x, inner)
        if isinstance(el, ast.Join):
            raise join_inside(el)
        raise TypeError(f"unknown element {el!r}")  # pragma: no cover - grammar prevents it

    def _call(
        self, call: ast.Call, x: int, ctx: Ctx, name: str | None, name_span: Span | None
    ) -> int:
        target = call.name
        bound: V.Sym | None = None
        if ctx.is_param(target):
            value = ctx.env[target]
            if not isinstance(value, V.Sym):
                raise not_an_op(target, value, call.name_span)
            bound, target = value, value.name
        if target == "expect":
            self._expect(call, x, ctx)
            return x
        # a block name bound where it was written applies that block (LANGUAGE.md section 10)
        entry = bound.entry if isinstance(bound, V.BlockRef) else ctx.blocks.lookup(target)
        if entry is not None:
            return self._inline(entry, call, x, ctx, name, name_span)
        op = canonical_op(target)
        if op is not None:
            return self._op(SIGNATURES[op], call, x, ctx, name, name_span)
        if target in self.tensors or target in self.later:
            raise tensor_as_op(target, call.name_span)
        # Listing every visible block is O(blocks): skipped once suggestions are used up.
        known = ctx.blocks.names() if suggestions_left() else ()
        if bound is not None:
            raise unknown_bound(call, bound.name, self._bound_where(bound), known)
        raise unknown_callee(target, call.name_span, known)

    def _expect(self, call: ast.Call, x: int, ctx: Ctx) -> None:
        errors: list[InceptError] = []
        given = self._bind_args(EXPECT_PARAMS, call.args, "expect", ctx, errors)
        want = collect(errors, expect_shape, given, call.span)
        if errors:
            raise InceptErrors.of(errors)
        if not is_known(want):  # pragma: no cover - every value is known in elaboration
            return
        have = self.g.shape(x)
        if self.resized and len(want) == len(have):
            # expects state the shapes at the declared input size; at another size (input_shape,
            # --input) only the rank and the channels of C×H×W tensors are checked
            if len(want) == 3 and want[0] != have[0]:
                raise InceptShapeError(
                    f"expect failed: expected {want[0]} channels ({fmt_shape(want)} at the "
                    f"declared input size), the pipeline produces {fmt_shape(have)} here",
                    call.span,
                )
            return
        if want != have:
            raise InceptShapeError(
                f"expect failed: expected {fmt_shape(want)}, the pipeline produces "
                f"{fmt_shape(have)} here",
                call.span,
            )


def unknown_bound(
    call: ast.Call, name: str, where: Span | None, blocks: Iterable[str]
) -> InceptError:
    """The element `call` is a parameter bound to `name`, which is no op and no block: located
    where the program binds the name (`where`, when it does), with a note at the element."""
    span = where or call.name_span
    notes = [Note(f"'{call.name}' is applied here", call.name_span)] if where else []
    return InceptNameError(
        f"unknown op or block '{name}', bound to the parameter '{call.name}'",
        span,
        notes=notes,
        hint=unknown_callee(name, span, blocks).hint,  # the did-you-mean of a direct use
    )
