"""The words a figure uses where the networks' papers differ: "Concat" or "Filter concat", the
mark of a conv without activation, the batch norm and activation named in a conv box, and the
parameters and MACs under a box (`--costs`).

Conventions (stated in the legend, `legend.py`):

- a join of branches is "Concat", except in the GoogLeNet/Inception family (a model or block
  whose name starts with `googlenet` or `inception`, or contains `inception`), whose papers say
  "Filter concat" (`concat_word`);
- a conv box stands for the conv, its batch norm and its activation; a ReLU is not written (most
  convs have one), another activation is ("3×3 Conv, 64, GELU"), and when most convs have an
  activation, one without is marked "(no act.)" (the Inception-ResNet papers' "Linear");
  `show_norm_act` writes all of them ("3×3 Conv, 64 + BN + ReLU");
- costs are the summary backend's: trainable parameters and multiply-adds of one sample
  (`incept_dsl.ir.ops.param_count`, `incept_dsl.ir.ops.macs`), summed over what a box stands for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from incept_dsl.ir.graph import Graph
from incept_dsl.ir.ops import node_costs
from incept_dsl.text import human_count

#: The mark of a conv without activation among convs that mostly have one.
NO_ACT = " (no act.)"
_INCEPTION = re.compile(r"^(googlenet|inception)|inception", re.IGNORECASE)


def concat_word(graph: Graph, block: str | None = None) -> str:
    """ "Filter concat" for the GoogLeNet/Inception family (by the model's name, or the block
    drawn), "Concat" for every other network."""
    names = [graph.name, *([block] if block else [])]
    return "Filter concat" if any(_INCEPTION.search(n) for n in names) else "Concat"


def cost_line(graph: Graph, nodes: Iterable[int]) -> str | None:
    """ "9.4K params · 118M MACs" for a box, or None when it has neither."""
    params, mac = node_costs(graph, nodes)
    if not params and not mac:
        return None
    parts = ([f"{human_count(params)} params"] if params else []) + (
        [f"{human_count(mac)} MACs"] if mac else []
    )
    return " · ".join(parts)
