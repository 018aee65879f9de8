"""Per-pass golden fixtures: the IR before and after exactly one pass, node by node.

Each `fixtures/<pass>/<case>.incept` is a small program exercising that pass; `<case>.expected` is
a deterministic text dump of the IR before the pass, the pass's result (changed or not, node
counts, its `--explain` notes), the IR after it, and whether a second run changes anything. Node
ids never appear: nodes are listed in the graph's stable order and name their inputs by scope.

A comment line `# before: <pass>, ...` in the program runs those passes first (not dumped); the
entry `-O<n>` stands for the passes of the `-O<n>` pipeline that come before the fixture's pass.
Rewrite the goldens with `pytest tests/passes/test_fixtures.py --update-goldens`.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

import incept_dsl
from incept_dsl.ir.graph import Graph
from incept_dsl.passes import PASSES, PIPELINES, run_pipeline

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CASES = sorted(FIXTURES.glob("*/*.incept"))

#: Node meta entries whose value is another node (shown by its scope, not its id).
NODE_META = ("fused_into", "fused_add")

#: Graph-level data shown separately (or not at all: the source text, the notes being taken).
_DATA_SHOWN_APART = ("name", "heads", "source", "notes")


def _value(v: Any) -> str:
    """A stable rendering of an attribute, meta or data value (dict keys sorted)."""
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_value(v[k])}" for k in sorted(v, key=str)) + "}"
    if isinstance(v, (set, frozenset)):
        return "{" + ", ".join(sorted(_value(x) for x in v)) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, tuple):
        return "(" + ", ".join(_value(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        fields = ", ".join(f"{f.name}={_value(getattr(v, f.name))}" for f in dataclasses.fields(v))
        return f"{type(v).__name__}({fields})"
    return repr(v)


def dump(g: Graph) -> list[str]:
    """One line per node in `g.order()` (scope, op, inputs by scope, sorted attrs, shape, span),
    its meta on an indented line when there is any, then the heads and the graph-level data."""
    lines = []
    for n in g.order():
        d = g.node(n)
        ins = ", ".join(g.scope(i) for i in g.inputs(n))
        attrs = ", ".join(f"{k}={_value(d['attrs'][k])}" for k in sorted(d["attrs"]))
        shape = "x".join(map(str, d["shape"]))
        lines.append(f"{d['scope']} = {d['op']}({ins}) {{{attrs}}} : {shape}  @ {d['span']}")
        meta = d["meta"]
        if meta:
            shown = (
                f"{k}={g.scope(meta[k]) if k in NODE_META else _value(meta[k])}"
                for k in sorted(meta)
            )
            lines.append(f"    meta: {', '.join(shown)}")
    for h in g.heads:
        weight = f" weight {h.weight!r}" if h.kind == "aux" else ""
        lines.append(f"{h.kind} {h.name} = {g.scope(h.node)}{weight}")
    for k in sorted(k for k in g.data if k not in _DATA_SHOWN_APART):
        lines.append(f"data {k} = {_value(g.data[k])}")
    return lines


def _prerequisites(name: str, text: str) -> tuple[str, ...]:
    out: list[str] = []
    for m in re.finditer(r"^#\s*before:(.*)$", text, flags=re.MULTILINE):
        for entry in (e.strip() for e in m.group(1).split(",")):
            level = re.fullmatch(r"-O(\d)", entry)
            if level:
                pipeline = PIPELINES[int(level.group(1))]
                out.extend(pipeline[: pipeline.index(name)])
            elif entry:
                assert entry in PASSES, f"unknown pass {entry!r} in '# before:'"
                out.append(entry)
    return tuple(out)


def _run_one(g: Graph, name: str) -> tuple[Graph, bool, list[str]]:
    result: list[tuple[bool, list[str]]] = []
    after = run_pipeline(
        g, passes=(name,), log=lambda _n, ch, _g, notes: result.append((ch, notes))
    )
    ((changed, notes),) = result
    return after, changed, notes


def render(case: Path) -> str:
    name = case.parent.name
    text = case.read_text(encoding="utf-8")
    prereqs = _prerequisites(name, text)
    m = incept_dsl.loads(text, name=case.name)
    before = run_pipeline(m.graph, passes=prereqs) if prereqs else m.graph
    after, changed, notes = _run_one(before, name)
    _, again, again_notes = _run_one(after, name)
    lines = [f"# {name} on {case.name}"]
    lines.append(f"# passes run first: {', '.join(prereqs) if prereqs else '(none)'}")
    lines.append(f"== before ({len(before)} nodes)")
    lines += dump(before)
    lines.append(
        f"== {name}: {'changed' if changed else 'no change'} ({len(before)} -> {len(after)} nodes)"
    )
    lines += [f"note: {n}" for n in notes]
    lines.append(f"== after ({len(after)} nodes)")
    lines += dump(after)
    lines.append(f"== {name} again: {'changed' if again else 'no change'}")
    lines += [f"note: {n}" for n in again_notes]
    return "\n".join(lines) + "\n"


def test_every_pass_has_fixtures() -> None:
    assert sorted({c.parent.name for c in CASES}) == sorted(PASSES)


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_pass_fixture(case: Path, update_goldens: bool) -> None:
    out = render(case)
    golden = case.with_suffix(".expected")
    if update_goldens:
        golden.write_text(out, encoding="utf-8")
    assert golden.exists(), f"no golden for {case}: run pytest with --update-goldens"
    assert out == golden.read_text(encoding="utf-8")
