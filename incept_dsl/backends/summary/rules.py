"""The "Cost rules" line of a cost table: each op's MAC rule (`incept_dsl.ir.costs`, named by the op
table) in the symbols of the tensors the table applies it to.

The op table words each rule for images C×H×W (and flat tensors F). On token tensors L×D (L tokens
of width D) a few rules count other symbols: a table whose rows apply such an op to tokens words
its rule for tokens too. A table without token tensors words every rule as the op table does.

Every function is a pure function of the rows, so the same table gives the same text.
"""

from __future__ import annotations

from collections.abc import Iterable

from incept_dsl.backends.summary.rows import Row, Shape
from incept_dsl.ir.ops import OPS

#: How a rule reads on tokens L×D, for the ops whose image wording (C·H·W) does not apply there.
TOKEN_RULES = {
    "linear": "L·in·out (in·out per token)",
    "layernorm": "L·D (y = a·x + b per element)",
    "add": "(n-1)·L·D for n inputs",
    "mul": "(n-1)·L·D for n inputs",
    "scale": "L·D (one multiply per element)",
    "layer_scale": "L·D (one multiply per element)",
}


def on_tokens(shape: Shape) -> bool:
    """Whether `shape` (without the batch dimension) is a token tensor L×D."""
    return len(shape) == 2


def has_tokens(rows: Iterable[Row]) -> bool:
    """Whether any row reads or makes a token tensor."""
    return any(on_tokens(r.output_shape) or any(on_tokens(s) for s in r.input_shapes) for r in rows)


def rule_text(op: str, rows: list[Row]) -> str:
    """The rule of `op` as the footer words it for `rows` (the table's rows of that op): in image
    symbols, in token symbols, or both ("in·out, on tokens L·in·out (in·out per token)") when the
    op is applied to both and its rule reads differently on tokens."""
    formula = OPS[op].cost.formula
    token = TOKEN_RULES.get(op)
    kinds = {on_tokens(r.input_shape) for r in rows}
    if token is None or True not in kinds:
        return formula
    if False not in kinds:
        return token
    return f"{formula}, on tokens {token}"


def rule_texts(ops: Iterable[str], rows: list[Row]) -> dict[str, str]:
    """Op -> its rule's text (`rule_text`), for `ops` in the op table's order."""
    wanted = set(ops)
    return {op: rule_text(op, [r for r in rows if r.op == op]) for op in OPS if op in wanted}
