"""Cost tables: per layer (or per top-level block) output shape, activation memory, parameters and
multiply-adds of a model, rendered as text, Markdown, CSV, LaTeX or JSON.

`summarize(model, opt_level, keep_aux, by, flops)` guarantees:

- one row per IR node except inputs, in the graph's deterministic order (`Graph.order`), or with
  `by="block"` one row per top-level scope (a repeat's copies are separate blocks) like
  Table 1 of the GoogLeNet paper;
- exact integer counts: parameters and buffers as PyTorch counts them (`ir.ops.param_count`),
  MACs by the rules of `incept_dsl.ir.costs`, memory = output elements × 4 bytes;
- rows that only aux heads need are shown when `keep_aux` is set (with the `part` column); the
  totals with and without them are always reported, and at `opt_level > 0` the -O0 totals too;
- the same model and options give byte-identical output in every format.

The JSON form (`to_json`) is a stable interface: ``{"model", "source", "input", "opt_level",
"aux_heads", "conventions", "layers": [{"name", "op", "block", "part", "input_shape",
"input_shapes", "output_shape", "kernel", "stride", "padding", "params", "buffers", "macs",
"flops", "memory_bytes"}], "blocks": [...], "total": {...}, "totals": {"without_aux",
"with_aux"}, "baseline"}``; shapes exclude the batch dimension.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incept_dsl.backends import tables
from incept_dsl.backends.pytext import utf8_text
from incept_dsl.backends.summary_rows import (
    BlockRow,
    Pair,
    Row,
    Shape,
    Totals,
    block_rows,
    layer_rows,
    node_parts,
)
from incept_dsl.errors import UsageError
from incept_dsl.ir.costs import COSTS
from incept_dsl.ir.graph import Graph

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
    "memory": "each layer's output tensor in fp32: elements × 4 bytes; KB = 1024 bytes; "
    "totals count the outputs of views (flatten, slice) once, with the tensor they "
    "view",
    "params": "trainable parameters: weights + biases + batch-norm affine",
    "buffers": "batch-norm running mean, variance and batch count: counted apart from params",
    "shapes": "without the batch dimension: C×H×W or F",
}


# ---- the table object --------------------------------------------------------------------------
def _shape(s: Shape) -> str:
    return "×".join(map(str, s))


def _inputs_text(shapes: tuple[Shape, ...]) -> str:
    if len(shapes) <= 1:
        return _shape(shapes[0]) if shapes else ""
    if len(set(shapes)) == 1:
        return f"{len(shapes)} × {_shape(shapes[0])}"
    if len({s[1:] for s in shapes}) == 1:
        return (
            "["
            + ",".join(str(s[0]) for s in shapes)
            + "]"
            + "".join(f"×{d}" for d in shapes[0][1:])
        )
    return ", ".join(_shape(s) for s in shapes)


def _pair(p: Pair | None, single: bool = True) -> str:
    if p is None:
        return ""
    return str(p[0]) if single and p[0] == p[1] else f"{p[0]}×{p[1]}"


def _n(x: int) -> str:
    return f"{x:,}"


def _kb(b: int) -> str:
    return f"{b / 1024:,.2f}"


def _totals_line(what: str, t: Totals, flops: bool) -> str:
    line = (
        f"{what}: {t.layers:,} layers, {t.params:,} params, {t.macs:,} MACs"
        + (f" ({t.flops:,} FLOPs)" if flops else "")
        + f", activations {t.memory_bytes / 1024:,.2f} KB "
        f"({t.memory_bytes / 2**20:,.2f} MB)"
    )
    return line + (f", {t.buffers:,} buffer elements" if t.buffers else "")


def _delta(a: int, b: int) -> str:
    if a == b:
        return f"{a:,} (unchanged)"
    pct = f" ({(b - a) / a:+.1%})" if a else ""
    return f"{a:,} → {b:,}{pct}"


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
    baseline: dict[str, Totals] | None = None
    rules: dict[str, str] = field(default_factory=dict)

    @property
    def rows(self) -> list[Any]:
        return self.blocks if self.by == "block" else self.layers

    @property
    def total(self) -> Totals:
        return Totals.of(self.layers)

    def macs_by_op(self) -> dict[str, int]:
        """MACs of the layer rows shown, per op (ops with none left out), largest first."""
        sums: dict[str, int] = {}
        for r in self.layers:
            sums[r.op] = sums.get(r.op, 0) + r.macs
        return dict(sorted(((op, m) for op, m in sums.items() if m), key=lambda e: -e[1]))

    # ---- text forms
    def title(self) -> str:
        ins = ", ".join(f"{k} {_shape(v)}" for k, v in self.inputs.items())
        view = "block" if self.by == "block" else "layer"
        aux = "aux heads included (training)" if self.keep_aux else "aux heads excluded (inference)"
        return f"{self.model}: cost per {view} at -O{self.opt_level}, input {ins}; {aux}"

    def notes(self) -> list[str]:
        out = [_totals_line("total without aux heads", self.without_aux, self.flops)]
        if self.with_aux != self.without_aux:
            out.append(_totals_line("total with aux heads", self.with_aux, self.flops))
        if self.baseline is not None:
            key = "with_aux" if self.keep_aux else "without_aux"
            a, b = self.baseline[key], self.with_aux if self.keep_aux else self.without_aux
            out.append(
                f"-O0 → -O{self.opt_level}: layers {_delta(a.layers, b.layers)}; params "
                f"{_delta(a.params, b.params)}; MACs {_delta(a.macs, b.macs)}; "
                f"activation bytes {_delta(a.memory_bytes, b.memory_bytes)}"
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
            "each layer's fp32 output (4 bytes per element, KB = 1024 bytes; a view's, "
            "in parentheses, is not added to the total again); params are "
            "weights + biases + BN affine, BN running statistics are buffers counted "
            "apart; shapes exclude the batch dimension."
        )
        out.append(
            "Cost rules: " + "; ".join(f"{op} {rule}" for op, rule in self.rules.items()) + "."
        )
        return out

    def _optional_columns(self, headers: list[str], aligns: str) -> tuple[list[str], str]:
        """`headers`/`aligns` with the 'part' column (when aux heads are kept) and the 'FLOPs'
        column (when asked for) added where `_finish` expects them."""
        if self.keep_aux:
            headers = [*headers[:2], "part", *headers[2:]]
            aligns = aligns[:2] + "l" + aligns[2:]
        if self.flops:
            headers = [*headers, "FLOPs"]
            aligns += "r"
        return headers, aligns

    def _layer_table(self) -> tables.Table:
        headers = [
            "name",
            "op",
            "input",
            "kernel",
            "stride",
            "pad",
            "output",
            "memory (KB)",
            "params",
            "MACs",
        ]
        headers, aligns = self._optional_columns(headers, "lllrrrlrrr")
        rows = []
        for r in self.rows:
            memory = f"({_kb(r.memory_bytes)})" if r.view else _kb(r.memory_bytes)
            cells = [
                r.name,
                r.op,
                _inputs_text(r.input_shapes),
                _pair(r.kernel, single=False),
                _pair(r.stride),
                _pair(r.padding),
                _shape(r.output_shape),
                memory,
                _n(r.params),
                _n(r.macs),
            ]
            rows.append(cells)
        t = self.total
        total = [
            "total",
            f"{t.layers:,} layers",
            "",
            "",
            "",
            "",
            "",
            _kb(t.memory_bytes),
            _n(t.params),
            _n(t.macs),
        ]
        return self._finish(headers, aligns, rows, total, 2)

    def _block_roles(self) -> list[str]:
        roles: list[str] = []
        for b in self.blocks:
            roles += [r for r in b.channels if r not in roles]
        return roles

    def _block_table(self) -> tables.Table:
        roles = self._block_roles()
        headers = [
            "name",
            "type",
            "patch size/stride",
            "output size",
            "depth",
            *roles,
            "memory (KB)",
            "params",
            "MACs",
        ]
        headers, aligns = self._optional_columns(headers, "llrlr" + "r" * len(roles) + "rrr")
        rows = []
        for b in self.rows:
            rows.append(
                [
                    b.name,
                    b.type,
                    b.patch,
                    _shape(b.output_shape),
                    str(b.depth),
                    *(b.channels.get(r, "") for r in roles),
                    _kb(b.memory_bytes),
                    _n(b.params),
                    _n(b.macs),
                ]
            )
        t = self.total
        total = [
            "total",
            f"{len(self.rows):,} blocks",
            "",
            "",
            "",
            *([""] * len(roles)),
            _kb(t.memory_bytes),
            _n(t.params),
            _n(t.macs),
        ]
        return self._finish(headers, aligns, rows, total, 2)

    def _finish(
        self, headers: list[str], aligns: str, rows: list[list[str]], total: list[str], part_at: int
    ) -> tables.Table:
        if self.keep_aux:
            for cells, r in zip(rows, self.rows, strict=True):
                cells.insert(part_at, r.part)
            total.insert(part_at, "")
        if self.flops:
            for cells, r in zip(rows, self.rows, strict=True):
                cells.append(_n(r.flops))
            total.append(_n(self.total.flops))
        return tables.Table(
            self.title(),
            tuple(headers),
            aligns,
            tuple(tuple(c) for c in rows),
            tuple(total),
            tuple(self.notes()),
        )

    def table(self) -> tables.Table:
        """The shown view as a plain `tables.Table` of display strings."""
        return self._block_table() if self.by == "block" else self._layer_table()

    def to_text(self) -> str:
        return tables.to_text(self.table())

    def to_markdown(self) -> str:
        return tables.to_markdown(self.table(), code_columns=(0,))

    def to_latex(self) -> str:
        ins = ", ".join(f"{k} {_shape(v)}" for k, v in self.inputs.items())
        caption = (
            f"Cost per {self.by} of {self.model} (-O{self.opt_level}, input {ins}). MACs "
            "are multiply-adds per sample (FLOPs = 2 × MACs); memory is the fp32 output "
            "of each layer (KB = 1024 bytes)."
        )
        label = "tab:" + re.sub(r"[^A-Za-z0-9-]", "-", self.model) + "-cost"
        return tables.to_latex(self.table(), caption, label)

    def to_csv(self) -> str:
        """Raw numbers (bytes, exact counts) for spreadsheets; shapes written `3x224x224`."""

        def sh(s: Shape | None) -> str:
            return "x".join(map(str, s)) if s else ""

        if self.by == "block":
            roles = self._block_roles()
            head = [
                "name",
                "type",
                "part",
                "patch",
                "output_shape",
                "depth",
                *(r.replace("×", "x") for r in roles),
                "layers",
                "memory_bytes",
                "params",
                "buffers",
                "macs",
                "flops",
            ]
            body = [
                [
                    b.name,
                    b.type,
                    b.part,
                    b.patch.replace("×", "x"),
                    sh(b.output_shape),
                    b.depth,
                    *(b.channels.get(r, "") for r in roles),
                    b.layers,
                    b.memory_bytes,
                    b.params,
                    b.buffers,
                    b.macs,
                    b.flops,
                ]
                for b in self.rows
            ]
        else:
            head = [
                "name",
                "op",
                "part",
                "input_shape",
                "kernel",
                "stride",
                "padding",
                "output_shape",
                "memory_bytes",
                "view",
                "params",
                "buffers",
                "macs",
                "flops",
            ]
            body = [
                [
                    r.name,
                    r.op,
                    r.part,
                    ";".join(sh(s) for s in r.input_shapes),
                    sh(r.kernel),
                    sh(r.stride),
                    sh(r.padding),
                    sh(r.output_shape),
                    r.memory_bytes,
                    int(r.view),
                    r.params,
                    r.buffers,
                    r.macs,
                    r.flops,
                ]
                for r in self.rows
            ]
        return tables.to_csv(head, body)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "source": self.source,
            "input": {k: list(v) for k, v in self.inputs.items()},
            "opt_level": self.opt_level,
            "aux_heads": "included" if self.keep_aux else "excluded",
            "conventions": {**CONVENTIONS, "rules": dict(self.rules)},
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


def _analyse(g: Graph) -> tuple[list[Row], list[BlockRow]]:
    parts = node_parts(g)
    rows = layer_rows(g, parts)
    return rows, block_rows(g, parts, rows)


def _split(rows: list[Row]) -> tuple[Totals, Totals]:
    """(totals without aux heads, with them) of one graph's rows."""
    return Totals.of([r for r in rows if r.part == "main"]), Totals.of(rows)


def summarize(
    model: Any, opt_level: int = 0, keep_aux: bool = False, by: str = "layer", flops: bool = False
) -> Summary:
    """The cost table of `model` (an `incept_dsl.Model`) after the `-O<opt_level>` pipeline.

    Rows only aux heads (or no head) need are shown when `keep_aux`; `by` is "layer" or "block";
    `flops` adds FLOP columns. At `opt_level > 0` the totals without aux heads are those of the
    inference graph (`model.optimized(level)`, aux heads pruned before optimising), the totals
    with them those of `model.optimized(level, keep_aux=True)`, and the -O0 totals come along as
    the baseline. Raises `UsageError` for an unknown `by` or level.
    """
    from incept_dsl.passes import PIPELINES

    if by not in VIEWS:
        raise UsageError(f"--by takes {' or '.join(VIEWS)}; got {by!r}")
    if opt_level not in PIPELINES:
        raise UsageError(f"unknown optimisation level -O{opt_level}")
    baseline = None
    if opt_level == 0:
        g = model.graph
        rows, blocks = _analyse(g)
        without_aux, with_aux = _split(rows)
    else:
        g_aux = model.optimized(opt_level, keep_aux=True)
        g_inf = model.optimized(opt_level, keep_aux=False)
        g = g_aux if keep_aux else g_inf
        rows, blocks = _analyse(g)
        with_aux = (
            _split(layer_rows(g_aux, node_parts(g_aux)))[1] if not keep_aux else _split(rows)[1]
        )
        without_aux = _split(rows if not keep_aux else layer_rows(g_inf, node_parts(g_inf)))[0]
        base_without, base_with = _split(layer_rows(model.graph, node_parts(model.graph)))
        baseline = {"without_aux": base_without, "with_aux": base_with}

    def shown(part: str) -> bool:
        return keep_aux or part == "main"

    present = {r.op for r in rows if shown(r.part)}
    rules = {op: COSTS[op].formula for op in COSTS if op in present}
    source = utf8_text(model.source_path.name) if getattr(model, "source_path", None) else None
    return Summary(
        model=g.name,
        source=source,
        inputs={g.attrs(n)["name"]: g.shape(n) for n in g.input_nodes()},
        opt_level=opt_level,
        keep_aux=keep_aux,
        by=by,
        flops=flops,
        layers=[r for r in rows if shown(r.part)],
        blocks=[b for b in blocks if shown(b.part)],
        without_aux=without_aux,
        with_aux=with_aux,
        baseline=baseline,
        rules=rules,
    )


def format_for(path: Path, fmt: str | None = None) -> str:
    """`fmt` if given, else the format the file suffix names (`.md`, `.csv`, `.tex`, `.json`;
    anything else is text; writers refuse other suffixes first, see `suffixes_for`)."""
    return fmt or SUFFIX_FORMATS.get(path.suffix.lower(), "text")


def suffixes_for(fmt: str | None) -> tuple[str, ...]:
    """The file name endings a table file in `fmt` may have (any format's when None)."""
    return tuple(s for s, f in SUFFIX_FORMATS.items() if fmt is None or f == fmt)


def emit(model: Any, args: Any, out: Path) -> str:
    """`incept-dsl compile --to summary`: write the table in the format the suffix of `out`
    names (or `--format`); returns a one-line description."""
    from incept_dsl.outputs import write_output

    fmt = format_for(out, getattr(args, "format", None))
    s = summarize(
        model,
        opt_level=getattr(args, "opt_level", None) or 0,
        keep_aux=bool(getattr(args, "keep_aux", False)),
        by=getattr(args, "by", None) or "layer",
        flops=bool(getattr(args, "flops", False)),
    )
    write_output(out, s.render(fmt))
    t = s.total
    return (
        f"{fmt} cost table of {s.model}, -O{s.opt_level}: {len(s.rows)} rows, "
        f"{t.params:,} params, {t.macs:,} MACs"
    )


__all__ = ["FORMATS", "BlockRow", "Row", "Summary", "Totals", "emit", "summarize"]
