"""The IR as JSON: nodes in the deterministic order with op, scope, attrs, shape, inputs, source
location; heads; model inputs. Byte-identical for the same graph."""

from __future__ import annotations

import json
from typing import Any

from incept_dsl.ir.graph import Graph


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def to_dict(graph: Graph) -> dict[str, Any]:
    nodes = []
    for n in graph.order():
        d = graph.node(n)
        span = d["span"]
        nodes.append(
            {
                "id": n,
                "name": d["scope"],
                "op": d["op"],
                "attrs": {k: _plain(v) for k, v in d["attrs"].items()},
                "shape": list(d["shape"]),
                "inputs": graph.inputs(n),
                "source": f"{span.file}:{span.line}:{span.column}" if span else None,
            }
        )
    return {
        "model": graph.name,
        "inputs": graph.data["inputs"],
        "heads": [
            {"name": h.name, "kind": h.kind, "weight": h.weight, "node": h.node}
            for h in graph.heads
        ],
        "nodes": nodes,
    }


def to_json(graph: Graph) -> str:
    return json.dumps(to_dict(graph), indent=1, sort_keys=False) + "\n"
