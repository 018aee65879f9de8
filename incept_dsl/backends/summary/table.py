"""Cost tables: per layer (or per top-level block) output shape, activation memory, parameters and
multiply-adds of a model, rendered as text, Markdown, CSV, LaTeX or JSON.

`summarize(model, opt_level, keep_aux, by, flops, batch)` guarantees:

- one row per IR node except inputs, in the graph's deterministic order (`Graph.order`), or with
  `by="block"` one row per top-level block like Table 1 of the GoogLeNet paper: the units the
  network figure draws as its top-level boxes (a repeat is one block, "unit ×4"; see `blocks`);
- exact integer counts: parameters and buffers as PyTorch counts them (`ir.ops.param_count`),
  MACs (per sample) by the rules of `incept_dsl.ir.costs`, memory = batch × output elements × 4
  bytes; the forward's peak activations, parameter bytes and the estimated total by `memory`;
- rows that only aux heads need are shown when `keep_aux` is set (with the `part` column); the
  totals with and without them are always reported, and at `opt_level > 0` the -O0 totals too;
- the same model and options give byte-identical output in every format.

The JSON form (`to_json`) is a stable interface: ``{"model", "source", "input", "batch",
"input_bytes", "peak_activation_bytes", "peak_activation_bytes_train", "param_bytes",
"buffer_bytes", "trainable", "non_trainable", "estimated_total_bytes", "opt_level",
"aux_heads", "conventions", "layers": [{"name", "op", "block", "part", "input_shape",
"input_shapes", "output_shape", "kernel", "stride", "padding", "params", "buffers", "macs",
"flops", "memory_bytes"}], "blocks": [...], "total": {...}, "totals": {"without_aux",
"with_aux"}, "baseline"}``; shapes exclude the batch dimension.

This module holds the `Summary` object and `summarize`; the rows come from `rows` and `blocks`,
the memory figures from `memory`, the cells of
each format from `formats`, and the plain-table renderers from `tables`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incept_dsl.backends.summary import tables
from incept_dsl.backends.summary.blocks import block_rows
from incept_dsl.backends.summary.formats import (
    delta,
    display_table,
    memory_lines,
    to_csv,
    totals_line,
)
from incept_dsl.backends.summary.memory import Memory, model_memory
from incept_dsl.backends.summary.rows import (
    BlockRow,
    Row,
    Shape,
    Totals,
    layer_rows,
    node_parts,
)
from incept_dsl.backends.summary.rules import has_tokens, rule_texts
from incept_dsl.errors import UsageError
from incept_dsl.ir.graph import Graph
from incept_dsl.text import fmt_shape

FORMATS = ("text", "markdown", "csv", "latex", "json")
VIEWS = ("layer", "block")
SUFFIX_FORMATS = {
    ".txt": "text",
    ".md": "markdown",
    ".csv": "csv",
    ".tex": "latex",
    ".json": "json",
}

CONVENTIONS = {
    "macs": "multiply-adds per sample; FLOPs = 2 × MACs",
    "memory": "each layer's output tensor in fp32 for the batch: batch × elements × 4 bytes; "
    "KB = 1024 bytes; totals count the outputs of views (flatten, slice) once, with the "
    "tensor they view",
    "peak_activation_bytes": "the most activation bytes alive at once in the generated forward "
    "in eval mode, as it frees them: after their last use, a block's input when the block "
    "returns, ReLUs in place where their input dies (input excluded; temporaries "
    "inside an op such as conv workspaces not counted); peak_activation_bytes_train: the same "
    "in training mode with the aux heads run, without autograd's saved tensors",
    "param_bytes": "parameters × 4 bytes (fp32); buffer_bytes: running statistics × 4 bytes, "
    "batch counts × 8 (int64)",
    "trainable": "parameters that require grad; non_trainable: parameters that do not "
    "(the compiler freezes none: 0); buffers are not parameters",
    "estimated_total_bytes": "input + peak activations (eval) + parameters + buffers",
    "params": "trainable parameters: weights + biases + batch-norm affine",
    "buffers": "batch-norm running mean, variance and batch count: counted apart from params",
    "shapes": "without the batch dimension: C×H×W or F",
}
#: The shapes convention of a table with token tensors.
TOKEN_SHAPES = "without the batch dimension: C×H×W, F, or L×D (L tokens of width D)"


# ---- the table object --------------------------------------------------------------------------
@dataclass
class Summary:
    """A model's cost table. `rows` are the rows of the chosen view (`Row`s, or `BlockRow`s with
    `by="block"`); `layers` and `blocks` hold both views; `total` sums the rows shown;
    `without_aux` / `with_aux` are the totals either way; `baseline` the -O0 totals (with and
    without aux) when `opt_level > 0`. `str()` is the text table."""

    model: str
    source: str | None
    inputs: dict[str, Shape]
    opt_level: int
    keep_aux: bool
    by: str
    flops: bool
    layers: list[Row]
    blocks: list[BlockRow]
    without_aux: Totals
    with_aux: Totals
    memory: Memory
    baseline: dict[str, Totals] | None = None
    rules: dict[str, str] = field(default_factory=dict)

    @property
    def batch(self) -> int:
        return self.memory.batch

    @property
    def rows(self) -> list[Any]:
        return self.blocks if self.by == "block" else self.layers

    @property
    def total(self) -> Totals:
        return Totals.of(self.layers)

    @property
    def tokens(self) -> bool:
        """Whether the rows shown read or make token tensors L×D."""
        return has_tokens(self.layers)

    def macs_by_op(self) -> dict[str, int]:
        """MACs of the layer rows shown, per op (ops with none left out), largest first."""
        sums: dict[str, int] = {}
        for r in self.layers:
            sums[r.op] = sums.get(r.op, 0) + r.macs
        return dict(sorted(((op, m) for op, m in sums.items() if m), key=lambda e: -e[1]))

    # ---- text forms
    def title(self) -> str:
        ins = ", ".join(f"{k} {fmt_shape(v)}" for k, v in self.inputs.items())
        view = "block" if self.by == "block" else "layer"
        aux = "aux heads included (training)" if self.keep_aux else "aux heads excluded (inference)"
        return (
            f"{self.model}: cost per {view} at -O{self.opt_level}, batch {self.batch}, "
            f"input {ins}; {aux}"
        )

    def notes(self) -> list[str]:
        out = [totals_line("total without aux heads", self.without_aux, self.flops)]
        if self.with_aux != self.without_aux:
            out.append(totals_line("total with aux heads", self.with_aux, self.flops))
        out += memory_lines(self.memory)
        if self.baseline is not None:
            key = "with_aux" if self.keep_aux else "without_aux"
            a, b = self.baseline[key], self.with_aux if self.keep_aux else self.without_aux
            out.append(
                f"-O0 → -O{self.opt_level}: layers {delta(a.layers, b.layers)}; params "
                f"{delta(a.params, b.params)}; MACs {delta(a.macs, b.macs)}; "
                f"activation bytes {delta(a.memory_bytes, b.memory_bytes)}"
            )
        by_op = self.macs_by_op()
        if by_op:
            whole = sum(by_op.values())
            out.append(
                "MACs by op: "
                + "; ".join(f"{op} {m:,} ({m / whole:.1%})" for op, m in by_op.items())
                + "."
            )
        out.append(
            "Conventions: MACs are multiply-adds per sample (FLOPs = 2 × MACs); memory is "
            "each layer's fp32 output for the batch (4 bytes per element, KB = 1024 bytes, "
            "MB = 1024 KB; a view's, "
            "in parentheses, is not added to the total again); params are "
            "weights + biases + BN affine, BN running statistics are buffers counted "
            "apart; shapes exclude the batch dimension"
            + (" (token tensors are L×D: L tokens of width D)." if self.tokens else ".")
        )
        out.append(
            "Cost rules: " + "; ".join(f"{op} {rule}" for op, rule in self.rules.items()) + "."
        )
        return out

    def table(self) -> tables.Table:
        """The shown view as a plain `tables.Table` of display strings."""
        return display_table(self)

    def to_text(self) -> str:
        return tables.to_text(self.table())

    def to_markdown(self) -> str:
        return tables.to_markdown(self.table(), code_columns=(0,))

    def to_latex(self) -> str:
        """A `table` float (booktabs rules: the document needs `\\usepackage{booktabs}`) with
        the notes under the tabular; no comment lines."""
        ins = ", ".join(f"{k} {fmt_shape(v)}" for k, v in self.inputs.items())
        caption = (
            f"Cost per {self.by} of {self.model} (-O{self.opt_level}, batch {self.batch}, "
            f"input {ins}). MACs are multiply-adds per sample (FLOPs = 2 × MACs); memory is "
            "the fp32 output of each layer for the batch (KB = 1024 bytes)."
        )
        label = "tab:" + re.sub(r"[^A-Za-z0-9-]", "-", self.model) + "-cost"
        return tables.to_latex(self.table(), caption, label)

    def to_csv(self) -> str:
        """Raw numbers (bytes, exact counts) for spreadsheets; shapes written `3x224x224`."""
        return to_csv(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "source": self.source,
            "input": {k: list(v) for k, v in self.inputs.items()},
            **self.memory.to_dict(),
            "opt_level": self.opt_level,
            "aux_heads": "included" if self.keep_aux else "excluded",
            "conventions": {
                **CONVENTIONS,
                **({"shapes": TOKEN_SHAPES} if self.tokens else {}),
                "rules": dict(self.rules),
            },
            "layers": [r.to_dict() for r in self.layers],
            "blocks": [b.to_dict() for b in self.blocks],
            "total": self.total.to_dict(),
            "macs_by_op": self.macs_by_op(),
            "totals": {
                "without_aux": self.without_aux.to_dict(),
                "with_aux": self.with_aux.to_dict(),
            },
            "baseline": None
            if self.baseline is None
            else {"opt_level": 0, **{k: v.to_dict() for k, v in self.baseline.items()}},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def render(self, fmt: str = "text") -> str:
        """The table in `fmt` (one of `FORMATS`)."""
        if fmt not in FORMATS:
            raise UsageError(f"unknown table format {fmt!r}; choose from {', '.join(FORMATS)}")
        return getattr(self, "to_" + fmt)()

    def __str__(self) -> str:
        return self.to_text()

    def _repr_markdown_(self) -> str:  # Jupyter shows the Markdown table
        return self.to_markdown()


def _analyse(g: Graph, batch: int) -> tuple[list[Row], list[BlockRow]]:
    parts = node_parts(g)
    rows = layer_rows(g, parts, batch)
    return rows, block_rows(g, parts, rows)


def _layer_rows(g: Graph, batch: int) -> list[Row]:
    return layer_rows(g, node_parts(g), batch)


def _split(rows: list[Row]) -> tuple[Totals, Totals]:
    """(totals without aux heads, with them) of one graph's rows."""
    return Totals.of([r for r in rows if r.part == "main"]), Totals.of(rows)


def summarize(
    with_aux: Graph,
    without_aux: Graph | None = None,
    baseline: Graph | None = None,
    *,
    source: str | None = None,
    opt_level: int = 0,
    keep_aux: bool = False,
    by: str = "layer",
    flops: bool = False,
    batch: int = 1,
) -> Summary:
    """The cost table of a model lowered to `-O<opt_level>` (see `Model.summary`).

    At -O0, `with_aux` is the model's graph and the rows say which part (main, aux) each layer
    serves. At -O1/-O2, `with_aux` and `without_aux` are the graph optimised with and without its
    aux heads and `baseline` the -O0 graph, whose totals come along. Rows only aux heads (or no
    head) need are shown when `keep_aux`; `by` is "layer" or "block"; `flops` adds FLOP columns;
    memory (columns, totals, peak) is that of `batch` samples. Raises `UsageError` for an
    unknown `by` or a `batch` that is not a whole number >= 1.
    """
    if by not in VIEWS:
        raise UsageError(f"--by takes {' or '.join(VIEWS)}; got {by!r}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise UsageError(f"batch must be a whole number >= 1; got {batch!r}")
    base_totals = None
    if without_aux is None or baseline is None:
        g = with_aux
        rows, blocks = _analyse(g, batch)
        totals_without, totals_with = _split(rows)
        memory = model_memory(g, g, batch)
    else:
        g = with_aux if keep_aux else without_aux
        rows, blocks = _analyse(g, batch)
        totals_with = _split(rows if keep_aux else _layer_rows(with_aux, batch))[1]
        totals_without = _split(_layer_rows(without_aux, batch) if keep_aux else rows)[0]
        base_without, base_with = _split(_layer_rows(baseline, batch))
        memory = model_memory(without_aux, with_aux, batch)
        base_totals = {"without_aux": base_without, "with_aux": base_with}

    def shown(part: str) -> bool:
        return keep_aux or part == "main"

    shown_rows = [r for r in rows if shown(r.part)]
    return Summary(
        model=g.name,
        source=source,
        inputs={g.attrs(n)["name"]: g.shape(n) for n in g.input_nodes()},
        opt_level=opt_level,
        keep_aux=keep_aux,
        by=by,
        flops=flops,
        layers=shown_rows,
        blocks=[b for b in blocks if shown(b.part)],
        without_aux=totals_without,
        with_aux=totals_with,
        memory=memory,
        baseline=base_totals,
        rules=rule_texts((r.op for r in shown_rows), shown_rows),
    )


def format_for(path: Path, fmt: str | None = None) -> str:
    """`fmt` if given, else the format the file suffix names (`.md`, `.csv`, `.tex`, `.json`;
    anything else is text; writers refuse other suffixes first, see `suffixes_for`)."""
    return fmt or SUFFIX_FORMATS.get(path.suffix.lower(), "text")


def suffixes_for(fmt: str | None) -> tuple[str, ...]:
    """The file name endings a table file in `fmt` may have (any format's when None)."""
    return tuple(s for s, f in SUFFIX_FORMATS.items() if fmt is None or f == fmt)


__all__ = ["FORMATS", "BlockRow", "Row", "Summary", "Totals", "summarize"]
