"""Blocks: applying one (its body inlined under a scope of its own, with the call's arguments,
a failed application remembered and reported once) and checking, without shapes, the body of
every block that nothing applies.

A block name bound to a block parameter (`ir(16, attn = se)`, or a default `attn = se`) is
resolved where it is written (`V.bind_block`), and an element `-> attn` applies that block with
its defaults exactly as `-> se` written in that place would (LANGUAGE.md section 10)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from incept_dsl.errors import (
    InceptError,
    InceptErrors,
    InceptLimitError,
    InceptTypeError,
    Note,
)
from incept_dsl.frontend import ast
from incept_dsl.frontend.loader import BlockEntry, BlockTable
from incept_dsl.ir import values as V
from incept_dsl.ir.arg_mistakes import missing_block_param
from incept_dsl.ir.args import FAILED, misspelt
from incept_dsl.ir.elaborate_context import Abort, Ctx, failure_key
from incept_dsl.ir.elaborate_structure import StructureLayer
from incept_dsl.ir.limits import MAX_BLOCK_DEPTH, MAX_NODES, MAX_WORK
from incept_dsl.ir.static import ShapelessChecker, block_dims
from incept_dsl.source import Span


class BlockLayer(StructureLayer):
    """Block applications, and the check of the blocks this model does not apply."""

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
        bound = bound_value(call, ctx)
        where = self._bound_where(bound) if bound is not None else None
        _refuse_recursion(entry, call, ctx, bound, where)
        if len(ctx.stack) >= MAX_BLOCK_DEPTH:
            raise InceptLimitError(f"blocks nest more than {MAX_BLOCK_DEPTH} deep", call.span)
        shape = self.g.shape(x)
        env, dims = self._block_env(entry, call, shape, ctx, bound)
        key = failure_key(block_key, [env[p.name] for p in defn.params], shape, len(ctx.stack))
        if key is not None and key in self.failed:
            # this body failed with the same arguments: report that once (a fresh traceback, so
            # that raising it again does not keep the frames of every earlier raise alive)
            raise self.failed[key].with_traceback(None)
        work, nodes = self._bound(entry, len(ctx.stack))
        if self.work + work > MAX_WORK or len(self.g) + nodes > MAX_NODES:
            raise Abort(self._blowup_error(defn.name, work, nodes, call.name_span, ctx))
        self.entered.add(block_key)
        scope = ctx.scope.child(ctx.scope.name(defn.name, name, name_span))
        # which block each block scope applies (cost tables and figures name block types by it)
        self.g.data.setdefault("blocks", {})[".".join(scope.path)] = defn.name
        # where it is applied (file, start, end): the language server's hover finds its nodes
        applied_at = (call.span.file, call.span.start, call.span.end)
        self.g.data.setdefault("block_calls", {})[".".join(scope.path)] = applied_at
        # its evaluated arguments (the PyTorch backend's block classes take them)
        self.g.data.setdefault("block_args", {})[".".join(scope.path)] = block_args(
            [p.name for p in defn.params], env
        )
        stack = (*ctx.stack, (block_key, defn.name, call.name_span))
        inner = Ctx(env, entry.blocks, scope, stack, dims)
        try:
            return self._run(defn.body.elements, x, inner)
        except InceptError as err:
            for e in err.errors if isinstance(err, InceptErrors) else [err]:
                if not any(n.message.startswith("in block") for n in e.notes) and len(e.notes) < 8:
                    e.notes.append(Note(f"in block '{defn.name}' applied here", call.span))
            if key is not None:
                self.failed[key] = err
            raise

    def _block_env(
        self,
        entry: BlockEntry,
        call: ast.Call,
        shape: tuple[int, ...],
        ctx: Ctx,
        bound: V.Sym | None = None,
    ) -> tuple[dict[str, Any], frozenset[str]]:
        """The names visible in one application of `entry` to a tensor of `shape`, and which of
        them are the input's dimensions: the names of its definition's scope, the dimensions
        (`V.input_dims`) that no parameter shadows, then its parameters: the call's arguments,
        then the defaults (evaluated in order, each seeing the dimensions and the parameters
        before it). A block name among the values is bound to the block it names where it is
        written (the caller's scope for an argument, the definition's for a default). Every
        mistake in the arguments and defaults is raised together. `bound`: the parameter value
        that named this block, when the element was a parameter (`-> attn`)."""
        defn = entry.defn
        errors: list[InceptError] = []
        names = tuple(p.name for p in defn.params)
        given = self._bind_args(names, call.args, defn.name, ctx, errors)
        env: dict[str, Any] = dict(entry.env)
        dims = block_dims(names, entry.env)
        for dim, value in V.input_dims(shape, defn.name).items():
            if dim in dims:
                env[dim] = value
            elif dim in names:  # read by a default before the parameter that shadows it
                hint = f"declare '{dim}' first, or rename the parameter"
                env[dim] = V.Absent(dim, _declared_later(defn.name, dim), hint)
        missing: list[ast.Param] = []
        for p in defn.params:
            if p.name in given:
                env[p.name] = V.bind_block(given[p.name][0], ctx.blocks)
            elif p.default is not None:
                try:
                    value = self._value(
                        p.default, Ctx(env, entry.blocks, ctx.scope, ctx.stack, dims)
                    )
                    env[p.name] = V.bind_block(value, entry.blocks)
                except InceptError as err:
                    errors.append(err)
                    env[p.name] = FAILED
            else:
                if p.name not in misspelt(call.args, names):  # else the misspelt keyword says it
                    missing.append(p)
                env[p.name] = FAILED
        if missing and bound is not None:
            where = self._bound_where(bound)
            errors.append(missing_bound_params(defn, missing, call, where))
        else:
            errors.extend(missing_block_param(defn, p, call.span) for p in missing)
        if errors:
            raise InceptErrors.of(errors)
        return env, dims

    def _bound_where(self, bound: V.Sym) -> Span | None:
        """Where the program binds the name `bound` to a parameter: None for a value the caller
        gave (`--set attn=se`, `params=`), which has no place in the program."""
        given = any(isinstance(v, V.Sym) and v.span is bound.span for v in self.overrides.values())
        return None if given else bound.span

    def _check_unapplied(self, local: BlockTable, reason: str) -> list[InceptError]:
        """Check, without shapes, the body of every block this model never elaborated: its own
        blocks, the file's, and those of the files it imports (`reason` says why, in a note)."""
        errors: list[InceptError] = []
        tensors = set(self.tensors) | set(self.later)
        for entry in visible_entries(local):
            if entry.key in self.entered:
                continue
            own = entry.blocks is local  # a block of this model: its defaults and tensors apply
            errors.extend(
                check_body(entry, self.defaults if own else None, tensors if own else (), reason)
            )
        return errors


def _declared_later(block: str, dim: str) -> str:
    """Why a default of block `block` cannot read `dim`: a parameter declared after it shadows
    the input dimension of that name."""
    return (
        f"the parameter '{dim}' of block '{block}' shadows the input dimension, and a default "
        "sees only the parameters declared before it"
    )


def bound_value(call: ast.Call, ctx: Ctx) -> V.Sym | None:
    """The value of the parameter that the element `call` names (`-> attn` with `attn = se`),
    or None when the element names an op or a block itself."""
    if not ctx.is_param(call.name):
        return None
    value = ctx.env[call.name]
    return value if isinstance(value, V.Sym) else None


def missing_bound_params(
    defn: ast.BlockDef, missing: Sequence[ast.Param], call: ast.Call, where: Span | None
) -> InceptError:
    """Block `defn`, applied through the parameter `call.name` (bound to it at `where`, when
    the program binds it), gets no value for the parameters `missing`, which have no default."""
    quoted = [f"'{p.name}'" for p in missing]
    names = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"
    its = f"its parameter{'s' if len(missing) > 1 else ''} {names}"
    have = "have" if len(missing) > 1 else "has"
    if call.args is None:
        message = (
            f"block '{defn.name}' is bound to the parameter '{call.name}', which applies it with "
            f"its defaults, but {its} {have} no default"
        )
    else:
        message = (
            f"block '{defn.name}' is bound to the parameter '{call.name}', and '{call.name}(...)' "
            f"gives no value for {its}, which {have} no default"
        )
    example = ", ".join(f"{p.name} = ..." for p in missing)
    notes = [Note(f"'{call.name}' is applied here", call.span)] if where else []
    notes.append(Note(f"'{defn.name}' is defined here", defn.name_span))
    return InceptTypeError(
        message,
        where or call.span,
        notes=notes,
        hint=f"write the block with its arguments where it is applied, `{defn.name}({example})`, "
        f"or give {names} a default in block '{defn.name}'",
    )


def _refuse_recursion(
    entry: BlockEntry,
    call: ast.Call,
    ctx: Ctx,
    bound: V.Sym | None = None,
    where: Span | None = None,
) -> None:
    """Raise when `entry` is already being applied further up `ctx`'s block stack (`bound`: the
    parameter value that named it, when the element was a parameter, bound at `where`)."""
    defn = entry.defn
    for i, (entered, _, _) in enumerate(ctx.stack):
        if entered == entry.key:
            chain = [b for _, b, _ in ctx.stack[i:]] + [defn.name]
            via = f" through the parameter '{call.name}'" if bound is not None else ""
            err = InceptTypeError(
                f"block '{defn.name}' applies itself{via}: {' -> '.join(chain)} (recursive "
                "blocks are not allowed)",
                call.name_span,
                hint="write the repetition out, or use repeat(n) { ... }",
            )
            if where is not None:
                err.notes.append(Note(f"'{call.name}' is bound to block '{defn.name}' here", where))
            for _, bname, bspan in reversed(ctx.stack[i:]):
                err.notes.append(Note(f"in block '{bname}' applied here", bspan))
            raise err


def visible_entries(table: BlockTable) -> list[BlockEntry]:
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


def check_body(
    entry: BlockEntry,
    defaults: Mapping[str, Mapping[str, tuple[Any, Span]]] | None,
    tensors: Sequence[str] | set[str],
    reason: str,
) -> list[InceptError]:
    """The mistakes in a block's body found without its arguments (`incept_dsl.ir.static`),
    each with a note that names the block and says (`reason`) why it was checked that way."""
    defn = entry.defn
    errors: list[InceptError] = []
    params = [p.name for p in defn.params]
    checker = ShapelessChecker(
        entry.env, params, entry.blocks, defaults, tensors, dims=block_dims(params, entry.env)
    )
    checker.pipeline(defn.body.elements, errors)
    for err in errors:
        err.notes.append(
            Note(f"in block '{defn.name}', checked without its arguments: {reason}", defn.name_span)
        )
    return errors


def block_args(names: list[str], env: dict[str, Any]) -> dict[str, Any]:
    """The values of the parameters `names` in `env` that are plain numbers or tuples of them (a
    block- or op-valued parameter is recorded by its name, anything else is left out)."""

    def plain(v: Any) -> bool:
        return isinstance(v, bool | int | float) or (isinstance(v, tuple) and all(map(plain, v)))

    out: dict[str, Any] = {}
    for name in names:
        value = env.get(name)
        if plain(value):
            out[name] = value
        elif isinstance(label := getattr(value, "name", None), str):
            out[name] = label
    return out
