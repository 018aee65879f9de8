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
- any mistake is an `InceptError` with a span, never another exception.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
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
)
from incept_dsl.frontend import ast
from incept_dsl.ir import values as V
from incept_dsl.ir.graph import Graph, Head
from incept_dsl.ir.ops import (
    ACTIVATIONS,
    REQUIRED,
    SIGNATURES,
    ShapeProblem,
    Signature,
    canonical_op,
    fmt_shape,
    infer_shape,
    param_count,
    surface_op_names,
)
from incept_dsl.loader import BlockEntry, BlockTable, Unit
from incept_dsl.perf import ensure_recursion_limit, gc_paused
from incept_dsl.source import Span

#: Largest `repeat` count.
MAX_REPEAT = 10_000
#: Most IR nodes one model may elaborate to (the largest shipped architecture has 823;
#: elaboration takes roughly 10-50 µs per node, so even a blow-up stops within seconds).
MAX_NODES = 100_000
#: Most channels (or features) of one tensor: a typo such as conv(10**12) is caught before
#: anything could try to allocate it.
MAX_CHANNELS = 1 << 20
#: Most elements of one tensor, per sample (2**31: 8 GiB of float32 for one image).
MAX_TENSOR_ELEMENTS = 1 << 31
#: Most trainable parameters of one layer (2**32: 16 GiB of float32).
MAX_LAYER_PARAMS = 1 << 32
#: Deepest chain of block applications (a block applying a block applying ...).
MAX_BLOCK_DEPTH = 100


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


@dataclass(frozen=True)
class Ctx:
    """Where an element is applied: parameter values, visible blocks, scope, block call stack."""

    env: Mapping[str, Any]
    blocks: BlockTable
    scope: Scope
    stack: tuple[tuple[tuple[str, int], str, Span], ...] = ()


def _loc(a: Any) -> Span:
    return a.span


class Elaborator:
    """Builds the IR of one model. Use `build_model`."""

    def __init__(self, unit: Unit, model: ast.ModelDef, params: Mapping[str, Any] | None,
                 input_shape: tuple[int, ...] | None) -> None:
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
        self.later: dict[str, Span] = {}
        #: names whose statement failed (-> where they were bound): readers are skipped quietly
        self.poisoned: dict[str, Span] = {}

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
                f"--input/input_shape needs a model with one input; '{m.name}' has {len(inputs)}")
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
                errors.append(err)     # not read this one's tensor
                self.poisoned.setdefault(st.name, st.name_span)
        if errors:
            raise InceptErrors.of(errors)
        if not any(h.kind == "output" for h in self.g.heads):
            raise InceptError(
                f"model '{m.name}' has no output", m.name_span,
                hint="declare one with `output NAME = PIPELINE`",
            )
        self.g.data["params"] = dict(env)
        return self.g

    def _model_params(self) -> dict[str, Any]:
        m = self.model
        names = [p.name for p in m.params]
        for key in self.overrides:
            if key not in names:
                hint = did_you_mean(key, names)
                known = ", ".join(names) or "none"
                raise UsageError(
                    f"model '{m.name}' has no parameter '{key}' (its parameters: {known})"
                    + (f"; {hint}" if hint else ""))
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
                    f"(--set {p.name}=VALUE)")
        return env

    def _add_defaults(self, st: ast.Defaults, env: Mapping[str, Any]) -> None:
        op = canonical_op(st.op)
        if op == "expect":
            raise InceptTypeError("`expect` takes no defaults: it asserts one shape where it is "
                                  "written", st.op_span)
        if op is None:
            hint = did_you_mean(st.op, surface_op_names())
            raise InceptNameError(f"unknown op '{st.op}' in defaults", st.op_span,
                                  hint=hint or "defaults apply to built-in ops")
        if op in self.defaults:
            err = InceptNameError(f"a second `defaults` for '{op}'", st.span)
            err.notes.append(Note("the first is here", self.defaults_span[op]))
            raise err
        sig = SIGNATURES[op]
        table: dict[str, tuple[Any, Span]] = {}
        for kw in st.keywords:
            if kw.name not in sig.arg_names:
                raise self._unknown_keyword(sig.name, kw, sig.arg_names)
            if kw.name in table:
                raise InceptTypeError(f"keyword '{kw.name}' is given twice", kw.name_span)
            table[kw.name] = (V.evaluate(kw.value, env), kw.value.span)
            kind = sig.args[sig.arg_names.index(kw.name)].kind
            _convert(kind, *table[kw.name], f"{sig.name}'s '{kw.name}'")  # a bad value: say so here
        self.defaults[op] = table
        self.defaults_span[op] = st.span

    # ---- statements ----------------------------------------------------------------------------
    def _claim_tensor(self, name: str, span: Span) -> None:
        first = self.tensors[name][1] if name in self.tensors else self.poisoned.get(name)
        if first is not None:
            err = InceptNameError(f"'{name}' is bound twice", span,
                                  hint="names are single-assignment; choose a new name")
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
                st.shape.span)
        _check_size("input", {}, shape, st.shape.span)
        scope = root.name("input", st.name, st.name_span)
        node = self.g.add_node("input", {"name": st.name, "shape": shape}, [], shape, scope,
                               st.span)
        self.g.data["inputs"].append(st.name)
        self.tensors[st.name] = (node, st.name_span)

    def _bind(self, st: ast.Bind, ctx: Ctx) -> None:
        self._claim_tensor(st.name, st.name_span)
        elements = st.pipeline.elements
        x = self._start(elements[0], ctx)
        for el in elements[1:]:
            x = self._element(el, x, ctx)
        self.tensors[st.name] = (x, st.name_span)
        if st.kind == "bind":
            return
        weight = 1.0
        if st.kind == "aux":
            assert st.weight is not None
            weight = V.as_float(V.evaluate(st.weight, ctx.env), st.weight.span, "an aux weight")
        if st.name in {h.name for h in self.g.heads}:
            raise InceptNameError(f"a second head named '{st.name}'", st.name_span)
        self.g.data["heads"].append(Head(st.name, st.kind, weight, x))

    def _start(self, el: ast.Element, ctx: Ctx) -> int:
        """The tensor a binding's pipeline starts from: a bound name or a join of bound names."""
        name: str | None = None
        name_span: Span | None = None
        if isinstance(el, ast.Named):
            el, name, name_span = el.element, el.name, el.name_span
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
            hint = hint or (f"'{name}' is an op; a binding starts from a tensor: "
                            f"`x = {next(iter(self.tensors), 'image')} -> {name} ...`")
        raise InceptNameError(f"unknown tensor '{name}'", span, hint=hint)

    # ---- elements ------------------------------------------------------------------------------
    def _pipeline(self, pipe: ast.Pipeline, x: int, ctx: Ctx) -> int:
        for el in pipe.elements:
            x = self._element(el, x, ctx)
        return x

    def _element(self, el: ast.Element, x: int, ctx: Ctx, name: str | None = None,
                 name_span: Span | None = None) -> int:
        if isinstance(el, ast.Named):
            return self._element(el.element, x, ctx, el.name, el.name_span)
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
                inner = replace(ctx, scope=ctx.scope.child(ctx.scope.name("group", name,
                                                                          name_span)))
            return self._pipeline(el.pipeline, x, inner)
        if isinstance(el, ast.Join):
            raise InceptTypeError(
                f"{el.kind}(a, b) joins bound tensors and can only start a binding", el.span,
                hint=f"to apply branches to the current tensor, write `{el.kind} {{ ... }}`",
            )
        raise TypeError(f"unknown element {el!r}")  # pragma: no cover - grammar prevents it

    def _call(self, call: ast.Call, x: int, ctx: Ctx, name: str | None,
              name_span: Span | None) -> int:
        target = call.name
        if target in ctx.env:
            value = ctx.env[target]
            if not isinstance(value, V.Sym):
                raise InceptTypeError(
                    f"parameter '{target}' is {V.describe(value)}, not an op or block",
                    call.name_span)
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
            raise InceptTypeError(
                f"'{target}' is a tensor, not an op; only the start of a binding reads a tensor",
                call.name_span,
                hint="to combine tensors, start a binding with concat(a, b) or add(a, b)",
            )
        hint = did_you_mean(target, [*surface_op_names(), *ctx.blocks.names()])
        raise InceptNameError(f"unknown op or block '{target}'", call.name_span, hint=hint)

    def _expect(self, call: ast.Call, x: int, ctx: Ctx) -> None:
        args = self._bind_args(SIGNATURES["expect"].args, call, ctx, "expect")
        if "shape" not in args:
            raise InceptTypeError("expect needs the shape it asserts, e.g. expect(64x56x56)",
                                  call.span)
        value, span = args["shape"]
        dims = value if isinstance(value, tuple) else (value,)
        want = tuple(V.as_int(d, span, "an expected dimension", 1) for d in dims)
        have = self.g.shape(x)
        if self.resized and len(want) == len(have):
            # expects state the shapes at the declared input size; at another size (input_shape,
            # --input) only the rank and the channels of C×H×W tensors are checked
            if len(want) == 3 and want[0] != have[0]:
                raise InceptShapeError(
                    f"expect failed: expected {want[0]} channels ({fmt_shape(want)} at the "
                    f"declared input size), the pipeline produces {fmt_shape(have)} here",
                    call.span)
            return
        if want != have:
            raise InceptShapeError(
                f"expect failed: expected {fmt_shape(want)}, the pipeline produces "
                f"{fmt_shape(have)} here", call.span)

    # ---- arguments -----------------------------------------------------------------------------
    def _unknown_keyword(self, what: str, kw: ast.KwArg, names: tuple[str, ...]) -> InceptError:
        hint = did_you_mean(kw.name, names)
        known = ", ".join(names) if names else "none"
        return InceptNameError(f"'{what}' has no parameter '{kw.name}' (it takes: {known})",
                               kw.name_span, hint=hint)

    def _bind_args(self, params: tuple, call: ast.Call | ast.Residual | ast.Repeat, ctx: Ctx,
                   what: str) -> dict[str, tuple[Any, Span]]:
        """Positional and keyword arguments of `call` matched to `params` (objects with `.name`).

        Returns only what was given, evaluated in the caller's `ctx.env`, with each value's span.
        """
        args = call.args
        names = tuple(p.name for p in params)
        out: dict[str, tuple[Any, Span]] = {}
        if args is None:
            return out
        if len(args.positional) > len(names):
            extra = args.positional[len(names)]
            raise InceptTypeError(
                f"'{what}' takes at most {len(names)} positional argument"
                f"{'s' if len(names) != 1 else ''}; got {len(args.positional)}", extra.span,
                hint=f"its parameters are: {', '.join(names)}" if names else None)
        for p, e in zip(names, args.positional, strict=False):
            out[p] = (V.evaluate(e, ctx.env), e.span)
        for kw in args.keywords:
            if kw.name not in names:
                raise self._unknown_keyword(what, kw, names)
            if kw.name in out:
                raise InceptTypeError(f"'{what}' got two values for '{kw.name}'", kw.name_span)
            out[kw.name] = (V.evaluate(kw.value, ctx.env), kw.value.span)
        return out

    # ---- blocks --------------------------------------------------------------------------------
    def _inline(self, entry: BlockEntry, call: ast.Call, x: int, ctx: Ctx, name: str | None,
                name_span: Span | None) -> int:
        defn = entry.defn
        for i, (key, _, _) in enumerate(ctx.stack):
            if key == entry.key:
                chain = [b for _, b, _ in ctx.stack[i:]] + [defn.name]
                err = InceptTypeError(
                    f"block '{defn.name}' applies itself: {' -> '.join(chain)} (recursive "
                    "blocks are not allowed)", call.name_span,
                    hint="write the repetition out, or use repeat(n) { ... }")
                for _, bname, bspan in reversed(ctx.stack[i:]):
                    err.notes.append(Note(f"in block '{bname}' applied here", bspan))
                raise err
        if len(ctx.stack) >= MAX_BLOCK_DEPTH:
            raise InceptLimitError(f"blocks nest more than {MAX_BLOCK_DEPTH} deep", call.span)
        given = self._bind_args(defn.params, call, ctx, defn.name)
        env: dict[str, Any] = dict(entry.env)
        for p in defn.params:
            if p.name in given:
                env[p.name] = given[p.name][0]
            elif p.default is not None:
                env[p.name] = V.evaluate(p.default, env)
            else:
                raise InceptTypeError(
                    f"block '{defn.name}' needs a value for its parameter '{p.name}'", call.span,
                    notes=[Note(f"'{defn.name}' is defined here", defn.name_span)])
        scope = ctx.scope.child(ctx.scope.name(defn.name, name, name_span))
        # which block each block scope applies (cost tables and figures name block types by it)
        self.g.data.setdefault("blocks", {})[".".join(scope.path)] = defn.name
        inner = Ctx(env, entry.blocks, scope, (*ctx.stack, (entry.key, defn.name, call.name_span)))
        try:
            return self._pipeline(defn.body, x, inner)
        except InceptError as err:
            for e in err.errors if isinstance(err, InceptErrors) else [err]:
                if not any(n.message.startswith("in block") for n in e.notes) and len(e.notes) < 8:
                    e.notes.append(Note(f"in block '{defn.name}' applied here", call.span))
            raise

    # ---- structure -----------------------------------------------------------------------------
    def _branches(self, el: ast.Branches, x: int, ctx: Ctx, name: str | None,
                  name_span: Span | None) -> int:
        scope = ctx.scope
        if name is not None:
            scope = scope.child(scope.name(el.kind, name, name_span))
        if not el.branches:
            raise InceptTypeError(f"{el.kind} {{ }} needs at least one branch", el.span)
        outs: list[int] = []
        failed: list[InceptError] = []
        for br in el.branches:  # branches are independent: check them all, report every error
            bscope = scope.child(scope.name("branch", br.label, br.label_span))
            try:
                outs.append(self._pipeline(br.pipeline, x, replace(ctx, scope=bscope)))
            except InceptError as err:
                failed.append(err)
        if failed:
            raise InceptErrors.of(failed)
        shapes = [self.g.shape(o) for o in outs]
        try:
            shape = infer_shape(el.kind, {}, shapes)
        except ShapeProblem as p:
            err = InceptShapeError(p.message, el.span, hint=_join_hint(el.kind))
            for i, (br, s) in enumerate(zip(el.branches, shapes, strict=True), 1):
                label = f"branch '{br.label}'" if br.label else f"branch {i}"
                err.notes.append(Note(f"{label} produced {fmt_shape(s)} here", br.pipeline.span))
            raise err from None
        node_scope = scope.full(scope.name(el.kind, None, el.span))
        return self._add(el.kind, {}, outs, node_scope, el.span, shape)

    def _join(self, el: ast.Join, ctx: Ctx, name: str | None, name_span: Span | None) -> int:
        ins = [self._tensor(n, s) for n, s in el.names]
        shapes = [self.g.shape(i) for i in ins]
        try:
            shape = infer_shape(el.kind, {}, shapes)
        except ShapeProblem as p:
            err = InceptShapeError(p.message, el.span, hint=_join_hint(el.kind))
            for (n, s), sh in zip(el.names, shapes, strict=True):
                err.notes.append(Note(f"'{n}' is {fmt_shape(sh)}", s))
            raise err from None
        scope = ctx.scope.full(ctx.scope.name(el.kind, name, name_span))
        return self._add(el.kind, {}, ins, scope, el.span, shape)

    def _residual(self, el: ast.Residual, x: int, ctx: Ctx, name: str | None,
                  name_span: Span | None) -> int:
        from incept_dsl.ir.ops import Arg

        given = self._bind_args((Arg("scale", "float", 1.0),), el, ctx, "residual")
        scale = 1.0
        if "scale" in given:
            scale = V.as_float(given["scale"][0], given["scale"][1], "residual scale")
        inner = ctx
        if name is not None:
            inner = replace(ctx, scope=ctx.scope.child(ctx.scope.name("residual", name,
                                                                     name_span)))
        body = self._pipeline(el.body, x, inner)
        sx, sb = self.g.shape(x), self.g.shape(body)
        if sx != sb:
            raise InceptShapeError(
                f"residual needs the body to keep the shape {fmt_shape(sx)}; it produces "
                f"{fmt_shape(sb)}", el.span,
                notes=[Note(f"the body ends with {fmt_shape(sb)} here", el.body.span)],
                hint="use `add { identity_or_projection; body }` when the shapes differ",
            )
        scope = inner.scope
        if scale != 1.0:
            body = self._add("scale", {"s": scale}, [body],
                             scope.full(scope.name("scale", None, el.span)), el.span, sb)
        return self._add("add", {}, [x, body], scope.full(scope.name("add", None, el.span)),
                         el.span, sx)

    def _repeat(self, el: ast.Repeat, x: int, ctx: Ctx, name: str | None,
                name_span: Span | None) -> int:
        from incept_dsl.ir.ops import Arg

        given = self._bind_args((Arg("n", "int"),), el, ctx, "repeat")
        if "n" not in given:
            raise InceptTypeError("repeat needs a count: repeat(n) { ... }", el.span)
        n = V.as_int(given["n"][0], given["n"][1], "the repeat count", 0)
        if n > MAX_REPEAT:
            raise InceptLimitError(f"repeat({n}) is more than the limit of {MAX_REPEAT}",
                                   given["n"][1])
        if n == 0:
            return x
        scope = ctx.scope.child(ctx.scope.name("repeat", name, name_span))
        for i in range(n):
            before = len(self.g)
            copy = scope.child(scope.name("copy", str(i), None))
            x = self._pipeline(el.body, x, replace(ctx, scope=copy))
            total = len(self.g) + (len(self.g) - before) * (n - 1 - i)
            if i == 0 and total > MAX_NODES:  # fail now, not after building MAX_NODES nodes
                raise InceptLimitError(
                    f"repeat({n}) makes {total:,} ops; the limit for a model is {MAX_NODES:,}",
                    given["n"][1])
        return x

    # ---- ops -----------------------------------------------------------------------------------
    def _add(self, op: str, attrs: dict[str, Any], inputs: list[int], scope: str, span: Span,
             shape: tuple[int, ...] | None = None) -> int:
        if shape is None:
            try:
                shape = infer_shape(op, attrs, [self.g.shape(i) for i in inputs])
            except ShapeProblem as p:
                got = ", ".join(fmt_shape(self.g.shape(i)) for i in inputs)
                raise InceptShapeError(p.message, span, hint=p.hint,
                                       notes=[Note(f"its input is {got}")]) from None
        if len(self.g) >= MAX_NODES:
            raise InceptLimitError(f"the model has more than {MAX_NODES:,} ops", span,
                                   hint="check the repeat counts")
        _check_size(op, attrs, shape, span)
        return self.g.add_node(op, attrs, inputs, shape, scope, span)

    def _op(self, sig: Signature, call: ast.Call, x: int, ctx: Ctx, name: str | None,
            name_span: Span | None) -> int:
        given = self._bind_args(sig.args, call, ctx, sig.name)
        for k, v in self.defaults.get(sig.name, {}).items():
            given.setdefault(k, v)
        a: dict[str, Any] = {}
        for arg in sig.args:
            if arg.name in given:
                value, span = given[arg.name]
                a[arg.name] = _convert(arg.kind, value, span, f"{sig.name}'s '{arg.name}'")
            elif arg.default is REQUIRED:
                raise InceptTypeError(
                    f"'{sig.name}' needs its argument '{arg.name}'", call.span,
                    hint=f"{sig.name}({', '.join(p.name for p in sig.args if p.default is REQUIRED)}"
                         ", ...)")
            elif arg.default in ("kernel", "auto", "same", "none"):
                a[arg.name] = None if arg.default == "none" else arg.default
            else:
                a[arg.name] = _convert(arg.kind, arg.default, call.span, arg.name)
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
                    span, hint="insert `-> flatten ->` (or `avgpool(global) -> flatten`) before it")
            scope = base.name("linear", name, name_span)
            attrs = {"in_features": shape_in[0], "out_features": a["out"], "bias": a["bias"]}
            y = self._add("linear", attrs, [x], base.full(scope), span)
            return self._act(a["act"], y, base.full(scope), span)
        scope = base.full(base.name(op, name, name_span))
        if op in ("maxpool", "avgpool"):
            if a["kernel"] == "global":
                if op == "maxpool":
                    raise InceptTypeError("maxpool takes a kernel size; `global` is for avgpool",
                                          span)
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
            return self._add(op, {k: a[k] for k in ("size", "alpha", "beta", "k")}, [x], scope,
                             span)
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

    def _conv(self, a: dict[str, Any], x: int, base: Scope, name: str | None,
              name_span: Span | None, span: Span, shape_in: tuple[int, ...]) -> int:
        if len(shape_in) != 3:
            raise InceptShapeError(
                f"conv needs an image tensor C×H×W; got the flat tensor {fmt_shape(shape_in)}",
                span)
        cin = shape_in[0]
        groups = a["groups"]
        if cin % groups or a["out"] % groups:
            raise InceptShapeError(
                f"groups = {groups} must divide both the input channels ({cin}) and the output "
                f"channels ({a['out']})", span)
        kernel = a["kernel"]
        bn = a["bn"]
        bias = (not bn) if a["bias"] == "auto" else a["bias"]
        attrs = {
            "in_channels": cin, "out_channels": a["out"], "kernel": kernel,
            "stride": a["stride"] if a["stride"] != "kernel" else kernel,
            "padding": _padding(a["padding"], kernel, a["dilation"]),
            "dilation": a["dilation"], "groups": groups, "bias": bias,
        }
        scope = base.full(base.name("conv", name, name_span))
        y = self._add("conv", attrs, [x], f"{scope}.conv" if bn else scope, span)
        if bn:
            bnd = self.defaults.get("batchnorm", {})
            eps = V.as_float(*bnd["eps"], "batchnorm eps") if "eps" in bnd else 1e-5
            mom = V.as_float(*bnd["momentum"], "batchnorm momentum") if "momentum" in bnd else 0.1
            y = self._add("batchnorm", {"num_features": a["out"], "eps": eps, "momentum": mom},
                          [y], f"{scope}.bn", span)
        return self._act(a["act"], y, scope, span)


def _check_size(op: str, attrs: dict[str, Any], shape: tuple[int, ...], span: Span) -> None:
    """Refuse tensors and layers past the size limits (nothing is allocated to find out)."""
    if len(shape) == 3 and shape[0] > MAX_CHANNELS:
        raise InceptLimitError(
            f"{op} produces {shape[0]:,} channels; the limit is {MAX_CHANNELS:,}", span)
    if len(shape) == 1 and op == "linear" and shape[0] > MAX_CHANNELS:
        raise InceptLimitError(
            f"linear produces {shape[0]:,} features; the limit is {MAX_CHANNELS:,}", span)
    elements = math.prod(shape)
    if elements > MAX_TENSOR_ELEMENTS:
        what = "the input is" if op == "input" else f"{op} produces"
        raise InceptLimitError(
            f"{what} a {fmt_shape(shape)} tensor: {elements:,} elements per sample; the "
            f"limit is {MAX_TENSOR_ELEMENTS:,}", span)
    params = param_count(op, attrs)[0]
    if params > MAX_LAYER_PARAMS:
        raise InceptLimitError(
            f"this {op} has {params:,} parameters; the limit for one layer is "
            f"{MAX_LAYER_PARAMS:,}", span)


def _collect(errors: list[InceptError], fn: Any, *args: Any) -> None:
    """Run `fn(*args)`; an `InceptError` it raises is appended to `errors` instead."""
    try:
        fn(*args)
    except InceptError as err:
        errors.append(err)


class _Poisoned(Exception):
    """A statement reads a tensor whose own statement failed: skipped without a second report."""


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


def _convert(kind: str, value: Any, span: Span, what: str) -> Any:
    """Check `value` against an argument kind and return its canonical form."""
    if kind == "count":
        n = V.as_int(value, span, what, 1)
        if n > MAX_CHANNELS:
            raise InceptLimitError(f"{what} is {n:,}; the limit is {MAX_CHANNELS:,}", span)
        return n
    if kind == "int":
        return V.as_int(value, span, what)
    if kind == "pair":
        return V.as_pair(value, span, what)
    if kind == "float":
        return V.as_float(value, span, what)
    if kind == "prob":
        p = V.as_float(value, span, what)
        if not 0.0 <= p < 1.0:
            raise InceptTypeError(f"{what} must be in [0, 1); got {p:g}", span)
        return p
    if kind == "bool":
        return V.as_bool(value, span, what)
    if kind == "bias":
        if isinstance(value, V.Sym) and value.name == "auto":
            return "auto"
        return V.as_bool(value, span, what)
    if kind == "padding":
        if isinstance(value, V.Sym):
            if value.name in ("same", "valid"):
                return value.name
            hint = did_you_mean(value.name, ["same", "valid"])
            raise InceptTypeError(f"{what} must be same, valid, a number or a pair; got "
                                  f"'{value.name}'", span, hint=hint)
        return V.as_pair(value, span, what, 0)
    if kind == "pool_kernel":
        if isinstance(value, V.Sym) and value.name == "global":
            return "global"
        return V.as_pair(value, span, what)
    if kind == "act":
        if isinstance(value, V.Sym):
            if value.name in ("none", "identity"):
                return None
            if value.name in ACTIVATIONS:
                return value.name
            hint = did_you_mean(value.name, [*ACTIVATIONS, "none"])
            raise InceptTypeError(
                f"{what} must be one of {', '.join(ACTIVATIONS)} or none; got '{value.name}'",
                span, hint=hint)
        raise InceptTypeError(f"{what} must be an activation name; got {V.describe(value)}", span)
    if kind == "shape":
        return value
    raise AssertionError(kind)  # pragma: no cover


def _source_text(el: Any) -> str:
    span = el.span
    return span.source.text[span.start:span.end]


def build_model(unit: Unit, model: str | None = None, params: Mapping[str, Any] | None = None,
                input_shape: tuple[int, ...] | None = None) -> Graph:
    """Elaborate one model of `unit` into a shape-checked IR graph.

    Every mistake raises an `InceptError`; independent mistakes (statements that do not read
    each other's tensors, branches of one `concat`) are reported together as `InceptErrors`."""
    ensure_recursion_limit()
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
            raise InceptError(f"{unit.source.name} defines no model",
                              unit.source.span(0, 0),
                              hint="add `model NAME { input ...; output ... }`")
        stem = Path(unit.source.name).stem
        for m in models:
            if m.name == stem:  # googlenet.incept -> its model `googlenet`
                return m
        raise UsageError(f"{unit.source.name} defines several models; choose one with "
                         f"--model/model=: {', '.join(names)}")
    for m in models:
        if m.name == model:
            return m
    hint = did_you_mean(model, names)
    raise UsageError(f"{unit.source.name} has no model '{model}' (it has: "
                     f"{', '.join(names) or 'none'})" + (f"; {hint}" if hint else ""))
