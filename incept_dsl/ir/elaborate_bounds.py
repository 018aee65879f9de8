"""The work ahead, known early: lower bounds of what one application of a block takes, what the
copies of a `repeat` still to come will add, and the limit errors raised when either would pass
`MAX_WORK` or `MAX_NODES` (so a blow-up fails in milliseconds, not after reaching the limit)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from incept_dsl.errors import InceptError, InceptLimitError, Note
from incept_dsl.frontend import ast
from incept_dsl.frontend.loader import BlockEntry, BlockTable
from incept_dsl.frontend.signatures import canonical_op
from incept_dsl.ir import values as V
from incept_dsl.ir.args import is_known
from incept_dsl.ir.elaborate_base import ElaboratorBase
from incept_dsl.ir.elaborate_context import Abort, Ctx
from incept_dsl.ir.limits import MAX_BLOCK_DEPTH, MAX_NODES, MAX_REPEAT, MAX_WORK
from incept_dsl.ir.static import ShapelessChecker, block_dims
from incept_dsl.source import Span

#: Lower bounds are capped here (far past every limit) to keep their arithmetic cheap.
HUGE = 1 << 62


class BoundsLayer(ElaboratorBase):
    """Lower bounds of blocks, projections of repeats, and the errors when they pass a limit."""

    # ---- blocks --------------------------------------------------------------------------------
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
            work, nodes = min(work + w, HUGE), min(nodes + n, HUGE)
        return work, nodes

    def _bound_element(
        self, el: ast.Element, entry: BlockEntry, params: frozenset[str], depth: int
    ) -> tuple[int, int]:
        if isinstance(el, ast.Named):
            return self._bound_element(el.element, entry, params, depth)
        if isinstance(el, ast.Call):
            return self._bound_call(el, entry, params, depth)
        if isinstance(el, ast.Branches):
            w, n = 1, 1
            for br in el.branches:
                bw, bn = self._bound_run(br.pipeline.elements, entry, params, depth)
                w, n = min(w + bw, HUGE), min(n + bn, HUGE)
            return (w, n)
        if isinstance(el, ast.Residual):
            w, n = self._bound_run(el.body.elements, entry, params, depth)
            return (min(1 + w, HUGE), min(1 + n, HUGE))
        if isinstance(el, ast.Repeat):
            count = _literal_count(el, entry.env, params)
            w, n = self._bound_run(el.body.elements, entry, params, depth)
            return (min(1 + count * (1 + w), HUGE), min(count * n, HUGE))
        if isinstance(el, ast.Group):
            w, n = self._bound_run(el.pipeline.elements, entry, params, depth)
            return (min(1 + w, HUGE), n)
        return (1, 0)

    def _bound_call(
        self, el: ast.Call, entry: BlockEntry, params: frozenset[str], depth: int
    ) -> tuple[int, int]:
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
            return (min(1 + w, HUGE), n)
        op = canonical_op(target)
        return (1, 0 if op in (None, "identity", "expect") else 1)

    # ---- repeats -------------------------------------------------------------------------------
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
        raise Abort(InceptLimitError(message, outer.span, notes=notes[:12], hint=hint))

    def _projected(self, now: int, starts: list[int]) -> int:
        """`now` plus what the copies still to come add, given the counter at the start of the
        current copy of each repeat under way (outermost first)."""
        inner = self.copying[-1]
        extra = (now - starts[-1]) * (inner.n - 1)
        for outer, start in zip(reversed(self.copying[:-1]), reversed(starts[:-1]), strict=True):
            extra += (outer.n - 1 - outer.index) * (now - start + extra)
        return now + extra


def _literal_count(el: ast.Repeat, env: Mapping[str, Any], params: frozenset[str]) -> int:
    """The count of a `repeat` when it needs no block parameter and no dimension of the block's
    input (`repeat(in_channels // 64)`) and is valid, else 0."""
    if el.args is None or len(el.args.positional) != 1 or el.args.keywords:
        return 0
    expr = el.args.positional[0]
    checker = ShapelessChecker(env, params, BlockTable(), None, dims=block_dims(params, env))
    try:
        value = checker.value(expr)
        if not is_known(value):
            return 0
        n = V.as_int(value, expr.span, "the repeat count", 0)
    except InceptError:
        return 0
    return n if n <= MAX_REPEAT else 0
