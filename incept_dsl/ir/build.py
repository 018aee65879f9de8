"""Elaboration: one model of a loaded file -> the IR (`Graph`).

Guarantees of `build_model`:

- blocks are inlined under their own scopes; `defaults` of the model apply wherever an op is applied
  (inside inlined blocks too); `repeat(n)` makes n copies with their own weights;
- every node has a unique hierarchical scope name: `as NAME` names a scope; unnamed ones are
  `<op>_<k>` / `<block>_<k>` / `repeat_<k>` / `branch_<k>` numbered from 1 per kind within their
  parent scope (a label names a branch), and a repeat's copies are `0 .. n-1`. `concat`, `add`,
  `residual` and groups add no level unless named with `as`. A `conv(bn = true)` is the scope
  `conv_k` holding the nodes `conv_k.conv` and `conv_k.bn`; an `act` adds `<scope>.<act>`;
- every node's shape is inferred as it is created, so every shape error points at the source;
- any mistake is an `InceptError` with a span, never another exception;
- every independent mistake is reported (`InceptErrors`), none that another one caused: after an
  element fails, the elements after it are still elaborated when its output shape is known anyway
  (an op that keeps its input's shape, such as `dropout(p = 2)`), and otherwise checked without
  shapes (`incept_dsl.ir.static`); statements that read a failed statement's tensor are skipped;
- a block application whose body failed is not elaborated again with the same arguments, input
  shape and depth: its error is reported once, and error recovery stays linear in the program;
- the body of every block that the model does not apply (its own, the file's, imported ones) is
  checked without shapes, so a mistake in an unused block is an error too;
- elaboration ends within `MAX_WORK` steps and `MAX_NODES` nodes (`incept_dsl.ir.limits`): a
  `repeat` whose copies would pass a limit fails after its first copy, at the outermost `repeat`,
  and a block whose size (a lower bound counted over its body) would pass one fails before it is
  applied, so a blow-up fails in milliseconds, not after elaborating up to the limit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from incept_dsl.errors import (
    InceptError,
    InceptErrors,
    InceptLimitError,
    InceptNameError,
    InceptShapeError,
    InceptTypeError,
    Note,
    UsageError,
    did_you_mean,
    reset_suggestion_budget,
    suggestions_left,
)
from incept_dsl.frontend import ast
from incept_dsl.ir import values as V
from incept_dsl.ir.args import (
    EXPECT_PARAMS,
    FAILED,
    REPEAT_PARAMS,
    RESIDUAL_PARAMS,
    Bound,
    bind_args,
    collect,
    expect_shape,
    is_known,
    join_inside,
    missing_block_param,
    misspelt,
    no_branches,
    not_an_op,
    op_args,
    read_arg,
    repeat_count,
    residual_scale,
    tensor_as_op,
    unknown_callee,
    unknown_keyword,
)
from incept_dsl.ir.graph import Graph, Head
from incept_dsl.ir.limits import (
    MAX_BLOCK_DEPTH,
    MAX_CHANNELS,
    MAX_LAYER_PARAMS,
    MAX_NODES,
    MAX_REPEAT,
    MAX_TENSOR_ELEMENTS,
    MAX_WORK,
)
from incept_dsl.ir.ops import (
    ACTIVATIONS,
    SIGNATURES,
    ShapeProblem,
    Signature,
    canonical_op,
    fmt_shape,
    infer_shape,
    param_count,
    surface_op_names,
)
from incept_dsl.ir.static import ShapelessChecker
from incept_dsl.loader import BlockEntry, BlockTable, Unit
from incept_dsl.perf import ensure_recursion_limit, gc_paused
from incept_dsl.source import Span

__all__ = [
    "MAX_BLOCK_DEPTH",
    "MAX_CHANNELS",
    "MAX_LAYER_PARAMS",
    "MAX_NODES",
    "MAX_REPEAT",
    "MAX_TENSOR_ELEMENTS",
    "MAX_WORK",
    "Elaborator",
    "build_model",
    "check_blocks",
    "pick_model",
]


class Scope:
    """A level of the hierarchical names. Counts unnamed children per kind; refuses duplicates."""

    def __init__(self, path: tuple[str, ...]) -> None:
        self.path = path
        self.counters: dict[str, int] = {}
        self.taken: dict[str, Span | None] = {}

    def name(self, base: str, explicit: str | None, span: Span | None) -> str:
        """Claim a child name: `explicit` if given (an error if taken), else `<base>_<k>`."""
        if explicit is not None:
            if explicit in self.taken:
                err = InceptNameError(f"the name '{explicit}' is already used in this scope", span)
                if self.taken[explicit] is not None:
                    err.notes.append(Note("first used here", self.taken[explicit]))
                raise err
            self.taken[explicit] = span
            return explicit
        k = self.counters.get(base, 0)
        while True:
            k += 1
            candidate = f"{base}_{k}"
            if candidate not in self.taken:
                break
        self.counters[base] = k
        self.taken[candidate] = span
        return candidate

    def full(self, child: str) -> str:
        return ".".join((*self.path, child))

    def child(self, child: str) -> Scope:
        return Scope((*self.path, child))


class Ctx:
    """Where an element is applied: parameter values, visible blocks, scope, block call stack.

    Never changed once made (a plain class with slots: elaboration makes one per scope)."""

    __slots__ = ("blocks", "env", "scope", "stack")

    def __init__(
        self,
        env: Mapping[str, Any],
        blocks: BlockTable,
        scope: Scope,
        stack: tuple[tuple[tuple[str, int], str, Span], ...] = (),
    ) -> None:
        self.env = env
        self.blocks = blocks
        self.scope = scope
        self.stack = stack

    def at(self, scope: Scope) -> Ctx:
        """The same context in another scope."""
        return Ctx(self.env, self.blocks, scope, self.stack)


def _loc(a: Any) -> Span:
    return a.span


class _Abort(Exception):
    """A limit of the whole model was passed (`MAX_WORK`, `MAX_NODES`): elaboration stops.

    Not an `InceptError`, so no error recovery catches it; every place that collects errors adds
    its own to `errors` on the way out, and `build` reports them all with the limit's error.
    """

    def __init__(self, error: InceptError) -> None:
        super().__init__(error.message)
        self.errors: list[InceptError] = [error]


@dataclass
class _Copying:
    """A `repeat` being elaborated: its count, where the count is written, the copy it is at,
    and the work and node counters when that copy began."""

    n: int
    span: Span
    index: int = 0
    copy_start: int = 0
    copy_nodes: int = 0


class Elaborator:
    """Builds the IR of one model. Use `build_model`."""

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
        self.copying: list[_Copying] = []
        #: block applications whose body failed: (block, arguments, input shape, depth) -> error
        self.failed: dict[tuple, InceptError] = {}
        #: the blocks whose body has been elaborated (the others are checked without shapes)
        self.entered: set[tuple[str, int]] = set()
        #: per block: at least how many steps and nodes one application of it takes
        self.bounds: dict[tuple[str, int], tuple[int, int]] = {}
        self._sizes: dict[int, int] = {}

    # ---- entry ---------------------------------------------------------------------------------
    def build(self) -> Graph:
        m = self.model
        env = self._model_params()
        blocks = BlockTable(self.unit.blocks)
        errors: list[InceptError] = []
        for st in m.body:
            if isinstance(st, ast.BlockDef):
                _collect(errors, blocks.define, st, env)
        for st in m.body:
            if isinstance(st, ast.Defaults):
                _collect(errors, self._add_defaults, st, env)
        if errors:  # every statement may depend on these: report them alone, not consequences
            raise InceptErrors.of(errors)
        for st in m.body:
            if isinstance(st, ast.InputStmt | ast.Bind):
                self.later.setdefault(st.name, st.name_span)
        root = Scope(())
        ctx = Ctx(env, blocks, root)
        inputs = [st for st in m.body if isinstance(st, ast.InputStmt)]
        if self.input_shape is not None and len(inputs) != 1:
            raise UsageError(
                f"--input/input_shape needs a model with one input; '{m.name}' has {len(inputs)}"
            )
        try:
            for st in m.body:
                if not isinstance(st, ast.InputStmt | ast.Bind):
                    continue
                try:
                    if isinstance(st, ast.InputStmt):
                        self._input(st, env, root)
                    else:
                        self._bind(st, ctx)
                except _Poisoned:  # reads a tensor whose statement failed: nothing new to report
                    self.poisoned.setdefault(st.name, st.name_span)
                except InceptError as err:  # report it, and go on with the statements that do
                    errors.append(err)  # not read this one's tensor
                    self.poisoned.setdefault(st.name, st.name_span)
        except _Abort as abort:  # a limit stopped elaboration: still check what it did not reach
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

    def _check_unapplied(self, local: BlockTable, reason: str) -> list[InceptError]:
        """Check, without shapes, the body of every block this model never elaborated: its own
        blocks, the file's, and those of the files it imports (`reason` says why, in a note)."""
        errors: list[InceptError] = []
        tensors = set(self.tensors) | set(self.later)
        for entry in _visible_entries(local):
            if entry.key in self.entered:
                continue
            own = entry.blocks is local  # a block of this model: its defaults and tensors apply
            errors.extend(
                _check_body(entry, self.defaults if own else None, tensors if own else (), reason)
            )
        return errors

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
            hint = did_you_mean(st.op, surface_op_names())
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

    # ---- work ----------------------------------------------------------------------------------
    def _charge(self, units: int, span: Span, ctx: Ctx) -> None:
        """Count `units` elaboration steps; past `MAX_WORK` the model stops with a located error
        (at the outermost repeat or block application under way)."""
        self.work += units
        if self.work > MAX_WORK:
            raise _Abort(self._work_error(span, ctx))

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
        self, elements: Sequence[ast.Element], ctx: Ctx, errors: list[InceptError]
    ) -> None:
        """Check `elements` without shapes (after an element before them failed)."""
        checker = ShapelessChecker(
            ctx.env,
            (),
            ctx.blocks,
            self.defaults,
            set(self.tensors) | set(self.later),
            charge=lambda span: self._charge(1, span, ctx),
        )
        checker.pipeline(elements, errors)

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
        _check_size("input", {}, shape, st.shape.span)
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
        _collect(errors, self._claim_tensor, st.name, st.name_span)
        elements = st.pipeline.elements
        x: int | None = None
        poisoned = False
        try:
            try:
                x = self._start(elements[0], ctx)
            except _Poisoned:  # reads a failed statement's tensor: check the rest without shapes
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
        except _Abort as abort:
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
            raise _Poisoned(st.name)
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
            raise _Poisoned(name)  # its statement failed and was reported; skip this one quietly
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

    # ---- elements ------------------------------------------------------------------------------
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
        except _Abort as abort:
            abort.errors.extend(errors)
            raise
        if errors:
            raise InceptErrors.of(errors)
        return x

    def _keeps_shape(self, el: ast.Element, ctx: Ctx) -> bool:
        """Whether `el` is an op whose output has its input's shape whatever its arguments."""
        if isinstance(el, ast.Named):
            el = el.element
        if not isinstance(el, ast.Call):
            return False
        target = el.name
        if target in ctx.env:
            value = ctx.env[target]
            if not isinstance(value, V.Sym):
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
        if target in ctx.env:
            value = ctx.env[target]
            if not isinstance(value, V.Sym):
                raise not_an_op(target, value, call.name_span)
            target = value.name
        if target == "expect":
            self._expect(call, x, ctx)
            return x
        entry = ctx.blocks.lookup(target)
        if entry is not None:
            return self._inline(entry, call, x, ctx, name, name_span)
        op = canonical_op(target)
        if op is not None:
            return self._op(SIGNATURES[op], call, x, ctx, name, name_span)
        if target in self.tensors or target in self.later:
            raise tensor_as_op(target, call.name_span)
        # Listing every visible block is O(blocks): skipped once suggestions are used up.
        known = ctx.blocks.names() if suggestions_left() else ()
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

    # ---- blocks --------------------------------------------------------------------------------
    def _inline(
        self,
        entry: BlockEntry,
        call: ast.Call,
        x: int,
        ctx: Ctx,
        name: str | None,
        name_span: Span | None,
    ) -> int:
        defn = entry.defn
        block_key = entry.key
        for i, (entered, _, _) in enumerate(ctx.stack):
            if entered == block_key:
                chain = [b for _, b, _ in ctx.stack[i:]] + [defn.name]
                err = InceptTypeError(
                    f"block '{defn.name}' applies itself: {' -> '.join(chain)} (recursive "
                    "blocks are not allowed)",
                    call.name_span,
                    hint="write the repetition out, or use repeat(n) { ... }",
                )
                for _, bname, bspan in reversed(ctx.stack[i:]):
                    err.notes.append(Note(f"in block '{bname}' applied here", bspan))
                raise err
        if len(ctx.stack) >= MAX_BLOCK_DEPTH:
            raise InceptLimitError(f"blocks nest more than {MAX_BLOCK_DEPTH} deep", call.span)
        errors: list[InceptError] = []
        names = tuple(p.name for p in defn.params)
        given = self._bind_args(names, call.args, defn.name, ctx, errors)
        env: dict[str, Any] = dict(entry.env)
        for p in defn.params:
            if p.name in given:
                env[p.name] = given[p.name][0]
            elif p.default is not None:
                try:
                    env[p.name] = self._value(
                        p.default, Ctx(env, entry.blocks, ctx.scope, ctx.stack)
                    )
                except InceptError as err:
                    errors.append(err)
                    env[p.name] = FAILED
            else:
                if p.name not in misspelt(call.args, names):  # else the misspelt keyword says it
                    errors.append(missing_block_param(defn, p, call.span))
                env[p.name] = FAILED
        if errors:
            raise InceptErrors.of(errors)
        key = _failure_key(
            block_key, [env[p.name] for p in defn.params], self.g.shape(x), len(ctx.stack)
        )
        if key is not None and key in self.failed:
            # this body failed with the same arguments: report that once (a fresh traceback, so
            # that raising it again does not keep the frames of every earlier raise alive)
            raise self.failed[key].with_traceback(None)
        work, nodes = self._bound(entry, len(ctx.stack))
        if self.work + work > MAX_WORK or len(self.g) + nodes > MAX_NODES:
            raise _Abort(self._blowup_error(defn.name, work, nodes, call.name_span, ctx))
        self.entered.add(block_key)
        scope = ctx.scope.child(ctx.scope.name(defn.name, name, name_span))
        # which block each block scope applies (cost tables and figures name block types by it)
        self.g.data.setdefault("blocks", {})[".".join(scope.path)] = defn.name
        inner = Ctx(env, entry.blocks, scope, (*ctx.stack, (block_key, defn.name, call.name_span)))
        try:
            return self._run(defn.body.elements, x, inner)
        except InceptError as err:
            for e in err.errors if isinstance(err, InceptErrors) else [err]:
                if not any(n.message.startswith("in block") for n in e.notes) and len(e.notes) < 8:
                    e.notes.append(Note(f"in block '{defn.name}' applied here", call.span))
            if key is not None:
                self.failed[key] = err
            raise

    # ---- lower bounds of the work ahead -------------------------------------------------------
    def _blowup_error(self, block: str, work: int, nodes: int, span: Span, ctx: Ctx) -> InceptError:
        if nodes > MAX_NODES:
            message = (
                f"block '{block}' makes at least {nodes:,} ops; the limit for a model "
                f"is {MAX_NODES:,}"
            )
        elif work > MAX_WORK:
            message = (
                f"block '{block}' expands to at least {work:,} elaboration steps; the "
                f"limit for a model is {MAX_WORK:,}"
            )
        elif len(self.g) + nodes > MAX_NODES:
            message = (
                f"the model would pass its limit of {MAX_NODES:,} ops here: it has "
                f"{len(self.g):,} and block '{block}' makes at least {nodes:,} more"
            )
        else:
            message = (
                f"the model would pass its limit of {MAX_WORK:,} elaboration steps here: "
                f"it took {self.work:,} and block '{block}' takes at least {work:,} more"
            )
        notes = [Note(f"inside repeat({c.n}) here", c.span) for c in self.copying]
        notes += [Note(f"inside block '{b}' applied here", s) for _, b, s in ctx.stack]
        if len(notes) > 8:
            notes = [*notes[:4], Note(f"... {len(notes) - 8} more"), *notes[-4:]]
        return InceptLimitError(
            message,
            span,
            notes=notes,
            hint="each application of a block elaborates its body again, so a block that "
            "applies blocks several times, or in a repeat, multiplies their size",
        )

    def _bound(self, entry: BlockEntry, depth: int) -> tuple[int, int]:
        """At least how many elaboration steps and IR nodes one successful application of
        `entry` takes, whatever its arguments: counted over its body without values, each
        `repeat` whose count needs a parameter counted as 0 copies, each element whose op or
        block needs a parameter as one step. Blocks deeper than `MAX_BLOCK_DEPTH` (an error
        anyway) and recursive ones count as nothing, so the count is always a lower bound."""
        key = entry.key
        if key in self.bounds:
            return self.bounds[key]
        if depth >= MAX_BLOCK_DEPTH:
            return (0, 0)
        self.bounds[key] = (0, 0)  # while it is being counted: a recursive block is an error
        params = frozenset(p.name for p in entry.defn.params)
        bound = self._bound_run(entry.defn.body.elements, entry, params, depth + 1)
        self.bounds[key] = bound
        return bound

    def _bound_run(
        self, elements: Sequence[ast.Element], entry: BlockEntry, params: frozenset[str], depth: int
    ) -> tuple[int, int]:
        work = nodes = 0
        for el in elements:
            w, n = self._bound_element(el, entry, params, depth)
            work, nodes = min(work + w, _HUGE), min(nodes + n, _HUGE)
        return work, nodes

    def _bound_element(
        self, el: ast.Element, entry: BlockEntry, params: frozenset[str], depth: int
    ) -> tuple[int, int]:
        if isinstance(el, ast.Named):
            return self._bound_element(el.element, entry, params, depth)
        if isinstance(el, ast.Call):
            target = el.name
            if target in params:
                return (1, 0)
            if target in entry.env:
                value = entry.env[target]
                if not isinstance(value, V.Sym):
                    return (1, 0)
                target = value.name
            callee = entry.blocks.lookup(target)
            if callee is not None:
                w, n = self._bound(callee, depth)
                return (min(1 + w, _HUGE), n)
            op = canonical_op(target)
            return (1, 0 if op in (None, "identity", "expect") else 1)
        if isinstance(el, ast.Branches):
            w, n = 1, 1
            for br in el.branches:
                bw, bn = self._bound_run(br.pipeline.elements, entry, params, depth)
                w, n = min(w + bw, _HUGE), min(n + bn, _HUGE)
            return (w, n)
        if isinstance(el, ast.Residual):
            w, n = self._bound_run(el.body.elements, entry, params, depth)
            return (min(1 + w, _HUGE), min(1 + n, _HUGE))
        if isinstance(el, ast.Repeat):
            count = _literal_count(el, entry.env, params)
            w, n = self._bound_run(el.body.elements, entry, params, depth)
            return (min(1 + count * (1 + w), _HUGE), min(count * n, _HUGE))
        if isinstance(el, ast.Group):
            w, n = self._bound_run(el.pipeline.elements, entry, params, depth)
            return (min(1 + w, _HUGE), n)
        return (1, 0)

    # ---- structure -----------------------------------------------------------------------------
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
        except _Abort as abort:
            abort.errors.extend(failed)
            raise
        if failed:
            raise InceptErrors.of(failed)
        shapes = [self.g.shape(o) for o in outs]
        try:
            shape = infer_shape(el.kind, {}, shapes)
        except ShapeProblem as p:
            shape_err = InceptShapeError(p.message, el.span, hint=_join_hint(el.kind))
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
            except _Poisoned:
                poisoned = True
            except InceptError as err:
                errors.append(err)
        if errors:
            raise InceptErrors.of(errors)
        if poisoned:
            raise _Poisoned(el.kind)
        shapes = [self.g.shape(i) for i in ins]
        try:
            shape = infer_shape(el.kind, {}, shapes)
        except ShapeProblem as p:
            shape_err = InceptShapeError(p.message, el.span, hint=_join_hint(el.kind))
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
        except _Abort as abort:
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
        frame = _Copying(n, count_span)
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

    def _predict(self) -> None:
        """After the first copy of the innermost repeat under way: every later copy (of it and
        of the repeats around it) adds as many nodes and takes as many steps as the first, so
        what is still to come is known. When it would pass `MAX_NODES` or `MAX_WORK`, fail now,
        at the outermost repeat."""
        nodes = self._projected(len(self.g), [c.copy_nodes for c in self.copying])
        work = self._projected(self.work, [c.copy_start for c in self.copying])
        outer = self.copying[0]
        if nodes > MAX_NODES:
            message = (
                f"repeat({outer.n}) makes {nodes:,} ops; the limit for a model is {MAX_NODES:,}"
            )
        elif work > MAX_WORK:
            message = (
                f"repeat({outer.n}) expands to at least {work:,} elaboration steps; the "
                f"limit for a model is {MAX_WORK:,}"
            )
        else:
            return
        counts = [c.n for c in self.copying]
        notes = [Note(f"nested repeat({c.n}) here", c.span) for c in self.copying[1:]]
        hint = None
        if len(counts) > 1:
            hint = (
                "nested repeats multiply: "
                + " × ".join(str(c) for c in counts)
                + " copies of the innermost body"
            )
        raise _Abort(InceptLimitError(message, outer.span, notes=notes[:12], hint=hint))

    def _projected(self, now: int, starts: list[int]) -> int:
        """`now` plus what the copies still to come add, given the counter at the start of the
        current copy of each repeat under way (outermost first)."""
        inner = self.copying[-1]
        extra = (now - starts[-1]) * (inner.n - 1)
        for outer, start in zip(reversed(self.copying[:-1]), reversed(starts[:-1]), strict=True):
            extra += (outer.n - 1 - outer.index) * (now - start + extra)
        return now + extra

    # ---- ops -----------------------------------------------------------------------------------
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
            raise _Abort(
                InceptLimitError(
                    f"the model has more than {MAX_NODES:,} ops",
                    span,
                    hint="check the repeat counts",
                )
            )
        _check_size(op, attrs, shape, span)
        return self.g.add_node(op, attrs, inputs, shape, scope, span)

    def _op(
        self,
        sig: Signature,
        call: ast.Call,
        x: int,
        ctx: Ctx,
        name: str | None,
        name_span: Span | None,
    ) -> int:
        errors: list[InceptError] = []
        given = self._bind_args(sig.arg_names, call.args, sig.name, ctx, errors)
        a = op_args(
            sig,
            given,
            self.defaults.get(sig.name, {}),
            call.span,
            errors,
            misspelt(call.args, sig.arg_names),
        )
        if errors:
            raise InceptErrors.of(errors)
        op = sig.name
        if op == "identity":
            return x
        span = call.span
        base = ctx.scope
        shape_in = self.g.shape(x)
        if op == "conv":
            return self._conv(a, x, base, name, name_span, span, shape_in)
        if op == "linear":
            if len(shape_in) != 1:
                raise InceptShapeError(
                    f"linear needs a flat tensor N×F; got the image tensor {fmt_shape(shape_in)}",
                    span,
                    hint="insert `-> flatten ->` (or `avgpool(global) -> flatten`) before it",
                )
            scope = base.name("linear", name, name_span)
            attrs = {"in_features": shape_in[0], "out_features": a["out"], "bias": a["bias"]}
            y = self._add("linear", attrs, [x], base.full(scope), span)
            return self._act(a["act"], y, base.full(scope), span)
        scope = base.full(base.name(op, name, name_span))
        if op in ("maxpool", "avgpool"):
            if a["kernel"] == "global":
                return self._add("global_avgpool", {}, [x], scope, span)
            k = a["kernel"]
            stride = k if a["stride"] == "kernel" else a["stride"]
            pad = _padding(a["padding"], k, (1, 1))
            attrs = {"kernel": k, "stride": stride, "padding": pad, "ceil": a["ceil"]}
            if op == "avgpool":
                attrs["count_include_pad"] = a["count_include_pad"]
            return self._add(op, attrs, [x], scope, span)
        if op == "adaptive_avgpool":
            return self._add(op, {"size": a["size"]}, [x], scope, span)
        if op == "batchnorm":
            if len(shape_in) == 0:
                raise InceptShapeError("batchnorm needs channels", span)
            attrs = {"num_features": shape_in[0], "eps": a["eps"], "momentum": a["momentum"]}
            return self._add(op, attrs, [x], scope, span)
        if op == "lrn":
            return self._add(
                op, {k: a[k] for k in ("size", "alpha", "beta", "k")}, [x], scope, span
            )
        if op in ACTIVATIONS or op == "flatten":
            return self._add(op, {}, [x], scope, span)
        if op == "softmax":
            return self._add(op, {"dim": a["dim"]}, [x], scope, span)
        if op == "dropout":
            return self._add(op, {"p": a["p"]}, [x], scope, span)
        if op == "scale":
            return self._add(op, {"s": a["s"]}, [x], scope, span)
        raise AssertionError(f"no elaboration for op {op}")  # pragma: no cover

    def _act(self, act: str | None, x: int, scope: str, span: Span) -> int:
        if act is None:
            return x
        return self._add(act, {}, [x], f"{scope}.{act}", span)

    def _conv(
        self,
        a: dict[str, Any],
        x: int,
        base: Scope,
        name: str | None,
        name_span: Span | None,
        span: Span,
        shape_in: tuple[int, ...],
    ) -> int:
        if len(shape_in) != 3:
            raise InceptShapeError(
                f"conv needs an image tensor C×H×W; got the flat tensor {fmt_shape(shape_in)}", span
            )
        cin = shape_in[0]
        groups = a["groups"]
        if cin % groups or a["out"] % groups:
            raise InceptShapeError(
                f"groups = {groups} must divide both the input channels ({cin}) and the output "
                f"channels ({a['out']})",
                span,
            )
        kernel = a["kernel"]
        bn = a["bn"]
        bias = (not bn) if a["bias"] == "auto" else a["bias"]
        attrs = {
            "in_channels": cin,
            "out_channels": a["out"],
            "kernel": kernel,
            "stride": a["stride"] if a["stride"] != "kernel" else kernel,
            "padding": _padding(a["padding"], kernel, a["dilation"]),
            "dilation": a["dilation"],
            "groups": groups,
            "bias": bias,
        }
        scope = base.full(base.name("conv", name, name_span))
        y = self._add("conv", attrs, [x], f"{scope}.conv" if bn else scope, span)
        if bn:  # the batchnorm defaults apply (checked against their ranges where written)
            bnd = self.defaults.get("batchnorm", {})
            norm = {"num_features": a["out"]}
            for arg in SIGNATURES["batchnorm"].args:
                value, where = bnd.get(arg.name, (arg.default, span))
                norm[arg.name] = read_arg(arg, value, where, f"batchnorm {arg.name}")
            y = self._add("batchnorm", norm, [y], f"{scope}.bn", span)
        return self._act(a["act"], y, scope, span)


def _check_size(op: str, attrs: dict[str, Any], shape: tuple[int, ...], span: Span) -> None:
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


def _collect(errors: list[InceptError], fn: Any, *args: Any) -> None:
    """Run `fn(*args)`; an `InceptError` it raises is appended to `errors` instead."""
    try:
        fn(*args)
    except InceptError as err:
        errors.append(err)


class _Poisoned(Exception):
    """A statement reads a tensor whose own statement failed: skipped without a second report."""


#: Lower bounds are capped here (far past every limit) to keep their arithmetic cheap.
_HUGE = 1 << 62


def _literal_count(el: ast.Repeat, env: Mapping[str, Any], params: frozenset[str]) -> int:
    """The count of a `repeat` when it needs no block parameter and is valid, else 0."""
    if el.args is None or len(el.args.positional) != 1 or el.args.keywords:
        return 0
    expr = el.args.positional[0]
    checker = ShapelessChecker(env, params, BlockTable(), None)
    try:
        value = checker.value(expr)
        if not is_known(value):
            return 0
        n = V.as_int(value, expr.span, "the repeat count", 0)
    except InceptError:
        return 0
    return n if n <= MAX_REPEAT else 0


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


def _freeze(value: Any) -> Any:
    """A hashable key for a parameter value that tells `1`, `1.0` and `true` apart (they compare
    equal in Python, but not in the language); raises TypeError for an unhashable value."""
    if isinstance(value, tuple):
        return ("tuple", tuple(_freeze(v) for v in value))
    hash(value)
    return (type(value).__name__, value)


def _failure_key(
    block: tuple[str, int], args: list[Any], shape: tuple[int, ...], depth: int
) -> tuple | None:
    """What decides whether a block application fails (for one model): the block, its
    arguments, its input shape and the depth of blocks around it. None when an argument cannot
    be a key (a value from the API that is not hashable): such applications are not memoised."""
    try:
        return (block, tuple(_freeze(a) for a in args), shape, depth)
    except TypeError:
        return None


def _visible_entries(table: BlockTable) -> list[BlockEntry]:
    """Every block definition reachable from `table`: its own, its parents' (the file's, the
    imports'), and transitively those of the files the blocks were defined in, each once."""
    seen_tables: set[int] = set()
    seen_entries: dict[tuple[str, int], BlockEntry] = {}
    todo: list[BlockTable] = [table]
    while todo:
        t: BlockTable | None = todo.pop()
        while t is not None and id(t) not in seen_tables:
            seen_tables.add(id(t))
            for entry in t.table.values():
                if entry.key not in seen_entries:
                    seen_entries[entry.key] = entry
                    todo.append(entry.blocks)
            t = t.parent
    return list(seen_entries.values())


def _check_body(
    entry: BlockEntry,
    defaults: Mapping[str, Mapping[str, tuple[Any, Span]]] | None,
    tensors: Sequence[str] | set[str],
    reason: str,
) -> list[InceptError]:
    """The mistakes in a block's body found without its arguments (`incept_dsl.ir.static`),
    each with a note that names the block and says (`reason`) why it was checked that way."""
    defn = entry.defn
    errors: list[InceptError] = []
    checker = ShapelessChecker(
        entry.env, [p.name for p in defn.params], entry.blocks, defaults, tensors
    )
    checker.pipeline(defn.body.elements, errors)
    for err in errors:
        err.notes.append(
            Note(f"in block '{defn.name}', checked without its arguments: {reason}", defn.name_span)
        )
    return errors


def _join_hint(kind: str) -> str:
    if kind == "concat":
        return "concat joins along channels; every branch must keep the same H×W"
    return "add needs every branch to produce exactly the same shape"


def _padding(value: Any, kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int]:
    if value == "same":
        return ((kernel[0] - 1) // 2 * dilation[0], (kernel[1] - 1) // 2 * dilation[1])
    if value == "valid":
        return (0, 0)
    return value


def _source_text(el: Any) -> str:
    span = el.span
    return span.source.text[span.start : span.end]


def check_blocks(unit: Unit) -> None:
    """Check, without shapes, the body of every block `unit` can see (its own and its imports');
    for a file without a model, whose blocks no `build_model` checks. Raises every mistake found
    (an `InceptError`, or `InceptErrors` for several)."""
    ensure_recursion_limit()
    errors: list[InceptError] = []
    for entry in _visible_entries(unit.blocks):
        errors.extend(_check_body(entry, None, (), "the file has no model to apply it"))
    if errors:
        raise InceptErrors.of(errors)


def build_model(
    unit: Unit,
    model: str | None = None,
    params: Mapping[str, Any] | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> Graph:
    """Elaborate one model of `unit` into a shape-checked IR graph.

    Every mistake raises an `InceptError`; independent mistakes (statements that do not read
    each other's tensors, branches of one `concat`) are reported together as `InceptErrors`."""
    ensure_recursion_limit()
    reset_suggestion_budget()
    with gc_paused():
        return Elaborator(unit, pick_model(unit, model), params, input_shape).build()


def pick_model(unit: Unit, model: str | None) -> ast.ModelDef:
    """The model named `model`; by default the file's only model, or the one named after the file
    (`googlenet.incept` -> `googlenet`). A `UsageError` lists the names when a choice is needed."""
    models = unit.program.models
    names = [m.name for m in models]
    if model is None:
        if len(models) == 1:
            return models[0]
        if not models:
            raise InceptError(
                f"{unit.source.name} defines no model",
                unit.source.span(0, 0),
                hint="add `model NAME { input ...; output ... }`",
            )
        stem = Path(unit.source.name).stem
        for m in models:
            if m.name == stem:  # googlenet.incept -> its model `googlenet`
                return m
        raise UsageError(
            f"{unit.source.name} defines several models; choose one with "
            f"--model/model=: {', '.join(names)}"
        )
    for m in models:
        if m.name == model:
            return m
    hint = did_you_mean(model, names)
    raise UsageError(
        f"{unit.source.name} has no model '{model}' (it has: "
        f"{', '.join(names) or 'none'})" + (f"; {hint}" if hint else "")
    )
