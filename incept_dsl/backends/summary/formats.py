"""The cells of a cost table (`Summary`): its text, Markdown and LaTeX forms' `tables.Table` of
display strings (either view), its CSV header and rows of raw numbers, and the lines of its notes.

Every function is a pure function of the `Summary`, so the same table gives the same text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from incept_dsl.backends.summary import tables
from incept_dsl.backends.summary.memory import Memory
from incept_dsl.backends.summary.rows import Pair, Shape, Totals
from incept_dsl.text import fmt_shape

if TYPE_CHECKING:
    from incept_dsl.backends.summary.table import Summary


# ---- cells --------------------------------------------------------------------------------------
def _inputs_text(shapes: tuple[Shape, ...]) -> str:
    if len(shapes) <= 1:
        return fmt_shape(shapes[0]) if shapes else ""
    if len(set(shapes)) == 1:
        return f"{len(shapes)} × {fmt_shape(shapes[0])}"
    if len({s[1:] for s in shapes}) == 1:
        return (
            "["
            + ",".join(str(s[0]) for s in shapes)
            + "]"
            + "".join(f"×{d}" for d in shapes[0][1:])
        )
    return ", ".join(fmt_shape(s) for s in shapes)


def _pair(p: Pair | None, single: bool = True) -> str:
    if p is None:
        return ""
    return str(p[0]) if single and p[0] == p[1] else f"{p[0]}×{p[1]}"


def _n(x: int) -> str:
    return f"{x:,}"


def _kb(b: int) -> str:
    return f"{b / 1024:,.2f}"


def totals_line(what: str, t: Totals, flops: bool) -> str:
    """One line of the notes: the totals `t`, called `what`."""
    line = (
        f"{what}: {t.layers:,} layers, {t.params:,} params, {t.macs:,} MACs"
        + (f" ({t.flops:,} FLOPs)" if flops else "")
        + f", activations {t.memory_bytes / 1024:,.2f} KB "
        f"({t.memory_bytes / 2**20:,.2f} MB)"
    )
    return line + (f", {t.buffers:,} buffer elements" if t.buffers else "")


def _mb(b: int) -> str:
    """`b` bytes in MB (1024 KB), in KB below 1 MB, in bytes below 1 KB."""
    if b < 1024:
        return f"{b:,} bytes"
    return f"{b / 2**20:,.2f} MB" if b >= 2**20 else f"{b / 1024:,.2f} KB"


def memory_lines(m: Memory) -> list[str]:
    """The notes' memory lines: the batch's input, peak activations, parameters and buffers,
    and the estimated total (each defined in the line)."""
    return [
        f"memory at batch {m.batch}: input {_mb(m.input_bytes)}; peak activations "
        f"{_mb(m.peak_bytes)} in eval mode, {_mb(m.peak_train_bytes)} in training mode "
        "(aux heads run) without autograd (as the generated forward frees tensors: after their "
        "last use, a block's input when the block returns); "
        f"params {_mb(m.param_bytes)} ({m.trainable:,} trainable, {m.non_trainable:,} "
        f"non-trainable); buffers {_mb(m.buffer_bytes)}",
        f"estimated total size: {_mb(m.estimated_total_bytes)} = input + peak activations + "
        "params + buffers (fp32; conv workspaces and autograd's saved tensors not included)",
    ]


def delta(a: int, b: int) -> str:
    """A count before and after the passes (`a → b (+x%)`), or that it is unchanged."""
    if a == b:
        return f"{a:,} (unchanged)"
    pct = f" ({(b - a) / a:+.1%})" if a else ""
    return f"{a:,} → {b:,}{pct}"


# ---- the display table --------------------------------------------------------------------------
def display_table(summary: Summary) -> tables.Table:
    """The shown view as a plain `tables.Table` of display strings."""
    return _block_table(summary) if summary.by == "block" else _layer_table(summary)


def _optional_columns(summary: Summary, headers: list[str], aligns: str) -> tuple[list[str], str]:
    """`headers`/`aligns` with the 'part' column (when aux heads are kept) and the 'FLOPs'
    column (when asked for) added where `_finish` expects them."""
    if summary.keep_aux:
        headers = [*headers[:2], "part", *headers[2:]]
        aligns = aligns[:2] + "l" + aligns[2:]
    if summary.flops:
        headers = [*headers, "FLOPs"]
        aligns += "r"
    return headers, aligns


def _layer_table(summary: Summary) -> tables.Table:
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
    headers, aligns = _optional_columns(summary, headers, "lllrrrlrrr")
    rows = []
    for r in summary.rows:
        memory = f"({_kb(r.memory_bytes)})" if r.view else _kb(r.memory_bytes)
        cells = [
            r.name,
            r.op,
            _inputs_text(r.input_shapes),
            _pair(r.kernel, single=False),
            _pair(r.stride),
            _pair(r.padding),
            fmt_shape(r.output_shape),
            memory,
            _n(r.params),
            _n(r.macs),
        ]
        rows.append(cells)
    t = summary.total
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
    return _finish(summary, headers, aligns, rows, total, 2)


def _block_roles(summary: Summary) -> list[str]:
    roles: list[str] = []
    for b in summary.blocks:
        roles += [r for r in b.channels if r not in roles]
    return roles


def _block_table(summary: Summary) -> tables.Table:
    roles = _block_roles(summary)
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
    headers, aligns = _optional_columns(summary, headers, "llrlr" + "r" * len(roles) + "rrr")
    rows = []
    for b in summary.rows:
        rows.append(
            [
                b.name,
                b.type,
                b.patch,
                fmt_shape(b.output_shape),
                str(b.depth),
                *(b.channels.get(r, "") for r in roles),
                _kb(b.memory_bytes),
                _n(b.params),
                _n(b.macs),
            ]
        )
    t = summary.total
    total = [
        "total",
        f"{len(summary.rows):,} blocks",
        "",
        "",
        "",
        *([""] * len(roles)),
        _kb(t.memory_bytes),
        _n(t.params),
        _n(t.macs),
    ]
    return _finish(summary, headers, aligns, rows, total, 2)


def _finish(
    summary: Summary,
    headers: list[str],
    aligns: str,
    rows: list[list[str]],
    total: list[str],
    part_at: int,
) -> tables.Table:
    if summary.keep_aux:
        for cells, r in zip(rows, summary.rows, strict=True):
            cells.insert(part_at, r.part)
        total.insert(part_at, "")
    if summary.flops:
        for cells, r in zip(rows, summary.rows, strict=True):
            cells.append(_n(r.flops))
        total.append(_n(summary.total.flops))
    return tables.Table(
        summary.title(),
        tuple(headers),
        aligns,
        tuple(tuple(c) for c in rows),
        tuple(total),
        tuple(summary.notes()),
    )


# ---- CSV ----------------------------------------------------------------------------------------
def to_csv(summary: Summary) -> str:
    """Raw numbers (bytes, exact counts) for spreadsheets; shapes written `3x224x224`."""
    head, body = _csv_blocks(summary) if summary.by == "block" else _csv_layers(summary)
    return tables.to_csv(head, body)


def _sh(s: Shape | None) -> str:
    return "x".join(map(str, s)) if s else ""


def _csv_blocks(summary: Summary) -> tuple[list[str], list[list[object]]]:
    """(header, rows) of the block view in CSV."""
    roles = _block_roles(summary)
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
    body: list[list[object]] = [
        [
            b.name,
            b.type,
            b.part,
            b.patch.replace("×", "x"),
            _sh(b.output_shape),
            b.depth,
            *(b.channels.get(r, "") for r in roles),
            b.layers,
            b.memory_bytes,
            b.params,
            b.buffers,
            b.macs,
            b.flops,
        ]
        for b in summary.rows
    ]
    return head, body


def _csv_layers(summary: Summary) -> tuple[list[str], list[list[object]]]:
    """(header, rows) of the layer view in CSV."""
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
    body: list[list[object]] = [
        [
            r.name,
            r.op,
            r.part,
            ";".join(_sh(s) for s in r.input_shapes),
            _sh(r.kernel),
            _sh(r.stride),
            _sh(r.padding),
            _sh(r.output_shape),
            r.memory_bytes,
            int(r.view),
            r.params,
            r.buffers,
            r.macs,
            r.flops,
        ]
        for r in summary.rows
    ]
    return head, body
