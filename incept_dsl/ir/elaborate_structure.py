"""Lowering the structural elements: `concat { ... }` / `add { ... }` / `mul { ... }` branches,
joins of bound tensors (`concat(a, b)`, `mul(a, b)`), `residual { ... }` and the copies of
`repeat(n) { ... }`. A join's shape error is located at the join, says which shapes and why, and
has a note per branch (or per tensor) with the shape it produced."""

from __future__ import annotations

from incept_dsl.errors import InceptError, InceptErrors, InceptShapeError, Note
from incept_dsl.frontend import ast
from incept_dsl.ir.arg_mistakes import no_branches
from incept_dsl.ir.args import (
    REPEAT_PARAMS,
    RESIDUAL_PARAMS,
    collect,
    is_known,
    repeat_count,
    residual_scale,
)
from incept_dsl.ir.elaborate_context import Abort, Copying, Ctx, Poisoned
from incept_dsl.ir.elaborate_ops import OpLayer
from incept_dsl.ir.ops import infer_shape
from incept_dsl.ir.shapes import ShapeProblem
from incept_dsl.source import Span
from incept_dsl.text import fmt_shape


class StructureLayer(OpLayer):
    """Branches, joins, residuals and repeats."""

    def _branches(
        self, el: ast.Branches, x: int, ctx: Ctx, name: str | None, name_span: Span | None
    ) -> int:
        scope = ctx.scope
        if name is not None:
            scope = scope.child(scope.name(el.kind, name, name_span))
        if not el.branches:
            raise no_branches(el)
        outs: list[int] = []
        failed: list[InceptError] = []
        try:
            for br in el.branches:  # branches are independent: check them all, report every error
                bscope = scope.child(scope.name("branch", br.label, br.label_span))
                try:
                    outs.append(self._run(br.pipeline.elements, x, ctx.at(bscope)))
                except InceptError as err:
                    failed.append(err)
        except Abort as abort:
            abort.errors.extend(failed)
            raise
        if failed:
            raise InceptErrors.of(failed)
        shapes = [self.g.shape(o) for o in outs]
        try:
            shape = infer_shape(el.kind, {}, shapes)
        except ShapeProblem as p:
            shape_err = InceptShapeError(p.message, el.span, hint=p.hint or _join_hint(el.kind))
            for i, (br, s) in enumerate(zip(el.branches, shapes, strict=True), 1):
                label = f"branch '{br.label}'" if br.label else f"branch {i}"
                shape_err.notes.append(
                    Note(f"{label} produced {fmt_shape(s)} here", br.pipeline.span)
                )
            raise shape_err from None
        node_scope = scope.full(scope.name(el.kind, None, el.span))
        return self._add(el.kind, {}, outs, node_scope, el.span, shape)

    def _join(self, el: ast.Join, ctx: Ctx, name: str | None, name_span: Span | None) -> int:
        ins: list[int] = []
        errors: list[InceptError] = []
        poisoned = False
        for n, s in el.names:  # report every unknown name, not only the first
            try:
                ins.append(self._tensor(n, s))
            except Poisoned:
                poisoned = True
            except InceptError as err:
                errors.append(err)
        if errors:
            raise InceptErrors.of(errors)
        if poisoned:
            raise Poisoned(el.kind)
        shapes = [self.g.shape(i) for i in ins]
        try:
            shape = infer_shape(el.kind, {}, shapes)
        except ShapeProblem as p:
            shape_err = InceptShapeError(p.message, el.span, hint=p.hint or _join_hint(el.kind))
            for (n, s), sh in zip(el.names, shapes, strict=True):
                shape_err.notes.append(Note(f"'{n}' is {fmt_shape(sh)}", s))
            raise shape_err from None
        scope = ctx.scope.full(ctx.scope.name(el.kind, name, name_span))
        return self._add(el.kind, {}, ins, scope, el.span, shape)

    def _residual(
        self, el: ast.Residual, x: int, ctx: Ctx, name: str | None, name_span: Span | None
    ) -> int:
        errors: list[InceptError] = []
        given = self._bind_args(RESIDUAL_PARAMS, el.args, "residual", ctx, errors)
        scale = collect(errors, residual_scale, given)
        inner = ctx
        if name is not None:
            inner = ctx.at(ctx.scope.child(ctx.scope.name("residual", name, name_span)))
        try:  # the body is independent of the scale: check it too
            body = self._run(el.body.elements, x, inner)
        except InceptError as err:
            raise InceptErrors.of([*errors, err]) from None
        except Abort as abort:
            abort.errors.extend(errors)
            raise
        if errors or not is_known(scale):
            raise InceptErrors.of(errors)
        sx, sb = self.g.shape(x), self.g.shape(body)
        if sx != sb:
            raise InceptShapeError(
                f"residual needs the body to keep the shape {fmt_shape(sx)}; it produces "
                f"{fmt_shape(sb)}",
                el.span,
                notes=[Note(f"the body ends with {fmt_shape(sb)} here", el.body.span)],
                hint="use `add { identity_or_projection; body }` when the shapes differ",
            )
        scope = inner.scope
        if scale != 1.0:
            body = self._add(
                "scale",
                {"s": scale},
                [body],
                scope.full(scope.name("scale", None, el.span)),
                el.span,
                sb,
            )
        return self._add(
            "add", {}, [x, body], scope.full(scope.name("add", None, el.span)), el.span, sx
        )

    def _repeat(
        self, el: ast.Repeat, x: int, ctx: Ctx, name: str | None, name_span: Span | None
    ) -> int:
        errors: list[InceptError] = []
        given = self._bind_args(REPEAT_PARAMS, el.args, "repeat", ctx, errors)
        n = collect(errors, repeat_count, given, el.span)
        if errors or not is_known(n) or n == 0:
            # no copy is elaborated: still check the body, once, without shapes
            self._shapeless(el.body.elements, ctx, errors)
            if errors:
                raise InceptErrors.of(errors)
            return x
        count_span = given["n"][1]
        scope = ctx.scope.child(ctx.scope.name("repeat", name, name_span))
        frame = Copying(n, count_span)
        self.copying.append(frame)
        try:
            for i in range(n):
                frame.index, frame.copy_start, frame.copy_nodes = i, self.work, len(self.g)
                self._charge(1, el.span, ctx)
                copy = scope.child(scope.name("copy", str(i), None))
                x = self._run(el.body.elements, x, ctx.at(copy))
                if i == 0:  # fail now, not after elaborating copies up to a limit
                    self._predict()
        finally:
            self.copying.pop()
        return x


def _join_hint(kind: str) -> str:
    """The hint of a join's shape error, when its shape rule gives none of its own."""
    if kind == "concat":
        return "concat joins along channels; every branch must keep the same H×W"
    if kind == "mul":
        return "mul needs every branch to produce the same shape, or a C×1×1 gate with that C"
    return "add needs every branch to produce exactly the same shape"
