"""The `Elaborator`: one model's statements in order (its parameters, `defaults`, inputs and
bindings), with every independent mistake collected, into the IR `Graph`.

Each layer below it lowers one kind of thing: `elaborate_elements` (pipelines), `elaborate_blocks`,
`elaborate_structure`, `elaborate_ops`, `elaborate_bounds` (limits), `elaborate_base` (state).
The guarantees are those of `incept_dsl.ir.build.build_model`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from incept_dsl.errors import (
    InceptError,
    InceptErrors,
    InceptNameError,
    InceptTypeError,
    Note,
    UsageError,
    did_you_mean,
)
from incept_dsl.frontend import ast
from incept_dsl.frontend.loader import BlockTable
from incept_dsl.frontend.signatures import SIGNATURES, canonical_op, surface_op_names
from incept_dsl.frontend.synonyms import synonym_hint
from incept_dsl.ir import values as V
from incept_dsl.ir.arg_mistakes import unknown_keyword
from incept_dsl.ir.args import collect, read_arg
from incept_dsl.ir.elaborate_base import check_size
from incept_dsl.ir.elaborate_context import Abort, Ctx, Poisoned, Scope
from incept_dsl.ir.elaborate_elements import ElementLayer
from incept_dsl.ir.graph import Graph, Head
from incept_dsl.source import Span
from incept_dsl.text import fmt_shape


class Elaborator(ElementLayer):
    """Builds the IR of one model. Use `build_model`."""

    # ---- entry ---------------------------------------------------------------------------------
    def build(self) -> Graph:
        m = self.model
        env = self._model_params()
        blocks = BlockTable(self.unit.blocks)
        errors: list[InceptError] = []
        for st in m.body:
            if isinstance(st, ast.BlockDef):
                collect(errors, blocks.define, st, env)
        for st in m.body:
            if isinstance(st, ast.Defaults):
                collect(errors, self._add_defaults, st, env)
        if errors:  # every statement may depend on these: report them alone, not consequences
            raise InceptErrors.of(errors)
        for st in m.body:
            if isinstance(st, ast.InputStmt | ast.Bind):
                self.later.setdefault(st.name, st.name_span)
        inputs = [st for st in m.body if isinstance(st, ast.InputStmt)]
        if self.input_shape is not None and len(inputs) != 1:
            raise UsageError(
                f"--input/input_shape needs a model with one input; '{m.name}' has {len(inputs)}"
            )
        try:
            self._statements(env, blocks, errors)
        except Abort as abort:  # a limit stopped elaboration: still check what it did not reach
            errors.extend(abort.errors)
            errors.extend(
                self._check_unapplied(blocks, "elaboration stopped at the limit before it")
            )
            raise InceptErrors.of(errors) from None
        errors.extend(self._check_unapplied(blocks, f"model '{m.name}' does not apply it"))
        if errors:
            raise InceptErrors.of(errors)
        if not any(h.kind == "output" for h in self.g.heads):
            raise InceptError(
                f"model '{m.name}' has no output",
                m.name_span,
                hint="declare one with `output NAME = PIPELINE`",
            )
        self.g.data["params"] = dict(env)
        return self.g

    def _statements(
        self, env: Mapping[str, Any], blocks: BlockTable, errors: list[InceptError]
    ) -> None:
        """Elaborate the inputs and bindings in order; a failed one's mistakes go to `errors`,
        and the statements that read its tensor are skipped."""
        root = Scope(())
        ctx = Ctx(env, blocks, root)
        for st in self.model.body:
            if not isinstance(st, ast.InputStmt | ast.Bind):
                continue
            try:
                if isinstance(st, ast.InputStmt):
                    self._input(st, env, root)
                else:
                    self._bind(st, ctx)
            except Poisoned:  # reads a tensor whose statement failed: nothing new to report
                self.poisoned.setdefault(st.name, st.name_span)
            except InceptError as err:  # report it, and go on with the statements that do
                errors.append(err)  # not read this one's tensor
                self.poisoned.setdefault(st.name, st.name_span)

    def _model_params(self) -> dict[str, Any]:
        m = self.model
        names = [p.name for p in m.params]
        for key in self.overrides:
            if key not in names:
                hint = did_you_mean(key, names)
                known = ", ".join(names) or "none"
                raise UsageError(
                    f"model '{m.name}' has no parameter '{key}' (its parameters: {known})"
                    + (f"; {hint}" if hint else "")
                )
        env: dict[str, Any] = {}
        seen: set[str] = set()
        for p in m.params:
            if p.name in seen:
                raise InceptNameError(f"parameter '{p.name}' is declared twice", p.span)
            seen.add(p.name)
            if p.name in self.overrides:
                env[p.name] = self.overrides[p.name]
            elif p.default is not None:
                env[p.name] = V.evaluate(p.default, env)
            else:
                raise UsageError(
                    f"model '{m.name}' needs a value for its parameter '{p.name}' "
                    f"(--set {p.name}=VALUE)"
                )
        return env

    def _add_defaults(self, st: ast.Defaults, env: Mapping[str, Any]) -> None:
        op = canonical_op(st.op)
        if op == "expect":
            raise InceptTypeError(
                "`expect` takes no defaults: it asserts one shape where it is written", st.op_span
            )
        if op is None:
            names = surface_op_names()
            hint = synonym_hint(st.op, names) or did_you_mean(st.op, names)
            raise InceptNameError(
                f"unknown op '{st.op}' in defaults",
                st.op_span,
                hint=hint or "defaults apply to built-in ops",
            )
        if op in self.defaults:
            err = InceptNameError(f"a second `defaults` for '{op}'", st.span)
            err.notes.append(Note("the first is here", self.defaults_span[op]))
            raise err
        sig = SIGNATURES[op]
        table: dict[str, tuple[Any, Span]] = {}
        errors: list[InceptError] = []
        for kw in st.keywords:  # every keyword is independent: report each bad one
            if kw.name not in sig.arg_names:
                errors.append(unknown_keyword(sig.name, kw, sig.arg_names))
                continue
            if kw.name in table:
                errors.append(InceptTypeError(f"keyword '{kw.name}' is given twice", kw.name_span))
                continue
            try:
                table[kw.name] = (V.evaluate(kw.value, env), kw.value.span)
                arg = sig.args[sig.arg_names.index(kw.name)]
                read_arg(arg, *table[kw.name], f"{sig.name}'s '{kw.name}'")  # a bad value: here
            except InceptError as err:
                errors.append(err)
        if errors:
            raise InceptErrors.of(errors)
        self.defaults[op] = table
        self.defaults_span[op] = st.span

    # ---- statements ----------------------------------------------------------------------------
    def _claim_tensor(self, name: str, span: Span) -> None:
        first = self.tensors[name][1] if name in self.tensors else self.poisoned.get(name)
        if first is not None:
            err = InceptNameError(
                f"'{name}' is bound twice",
                span,
                hint="names are single-assignment; choose a new name",
            )
            err.notes.append(Note("first bound here", first))
            raise err

    def _input(self, st: ast.InputStmt, env: Mapping[str, Any], root: Scope) -> None:
        self._claim_tensor(st.name, st.name_span)
        value = V.evaluate(st.shape, env)
        dims = value if isinstance(value, tuple) else (value,)
        shape = tuple(V.as_int(d, st.shape.span, "an input dimension", 1) for d in dims)
        if self.input_shape is not None:
            self.resized = self.input_shape != shape
            shape = self.input_shape
        if len(shape) not in (1, 3):
            raise InceptTypeError(
                f"an input is C×H×W (an image) or F (a flat vector); got {fmt_shape(shape)}",
                st.shape.span,
            )
        check_size("input", {}, shape, st.shape.span)
        scope = root.name("input", st.name, st.name_span)
        node = self.g.add_node(
            "input", {"name": st.name, "shape": shape}, [], shape, scope, st.span
        )
        self.g.data["inputs"].append(st.name)
        self.tensors[st.name] = (node, st.name_span)

    def _bind(self, st: ast.Bind, ctx: Ctx) -> None:
        """Elaborate a binding; every independent mistake of the statement is reported together
        (a name bound twice, the pipeline's mistakes, a bad aux weight)."""
        errors: list[InceptError] = []
        collect(errors, self._claim_tensor, st.name, st.name_span)
        elements = st.pipeline.elements
        x: int | None = None
        poisoned = False
        try:
            try:
                x = self._start(elements[0], ctx)
            except Poisoned:  # reads a failed statement's tensor: check the rest without shapes
                poisoned = True
                self._shapeless(elements[1:], ctx, errors)
            except InceptError as err:
                errors.append(err)
                self._shapeless(elements[1:], ctx, errors)
            else:
                x = self._run(elements[1:], x, ctx)
        except InceptError as err:
            errors.append(err)
            x = None
        except Abort as abort:
            abort.errors.extend(errors)
            raise
        weight = 1.0
        if st.kind == "aux":
            assert st.weight is not None
            try:
                weight = V.as_float(V.evaluate(st.weight, ctx.env), st.weight.span, "an aux weight")
            except InceptError as err:
                errors.append(err)
        if st.kind != "bind" and st.name in self.head_names:
            errors.append(InceptNameError(f"a second head named '{st.name}'", st.name_span))
        if errors:
            raise InceptErrors.of(errors)
        if poisoned or x is None:
            raise Poisoned(st.name)
        self.tensors[st.name] = (x, st.name_span)
        if st.kind != "bind":
            self.g.data["heads"].append(Head(st.name, st.kind, weight, x))
            self.head_names.add(st.name)

    def _start(self, el: ast.Element, ctx: Ctx) -> int:
        """The tensor a binding's pipeline starts from: a bound name or a join of bound names."""
        name: str | None = None
        name_span: Span | None = None
        if isinstance(el, ast.Named):
            name, name_span = el.name, el.name_span
            el = el.element
        if isinstance(el, ast.Join):
            return self._join(el, ctx, name, name_span)
        if isinstance(el, ast.Call) and el.args is None and name is None:
            return self._tensor(el.name, el.name_span)
        what = el.name if isinstance(el, ast.Call) else None
        err = InceptTypeError(
            "a binding's pipeline starts from a bound tensor or a join such as concat(a, b)",
            el.span,
        )
        inputs = [n for n in self.tensors]
        if what is not None and what in self.tensors:
            err.hint = f"'{what}' is a tensor; remove the arguments after it"
        elif inputs:
            err.hint = f"start from a tensor, e.g. `{inputs[0]} -> {_source_text(el)}`"
        raise err

    def _tensor(self, name: str, span: Span) -> int:
        if name in self.tensors:
            return self.tensors[name][0]
        if name in self.poisoned:
            raise Poisoned(name)  # its statement failed and was reported; skip this one quietly
        if name in self.later:
            err = InceptNameError(f"'{name}' is used before it is bound", span)
            err.notes.append(Note(f"'{name}' is bound here", self.later[name]))
            raise err
        hint = did_you_mean(name, self.tensors)
        if canonical_op(name) is not None:
            hint = hint or (
                f"'{name}' is an op; a binding starts from a tensor: "
                f"`x = {next(iter(self.tensors), 'image')} -> {name} ...`"
            )
        raise InceptNameError(f"unknown tensor '{name}'", span, hint=hint)


def _source_text(el: Any) -> str:
    span = el.span
    return span.source.text[span.start : span.end]
