"""prune-aux: aux heads and what only they use go; --keep-aux keeps them."""

from __future__ import annotations

import incept_dsl
from incept_dsl.passes.prune_aux import prune_aux


def test_googlenet_loses_both_aux_heads_and_their_layers():
    m = incept_dsl.load("googlenet.incept", model="googlenet")
    g = m.graph.copy()
    assert prune_aux(g) is True
    assert [h.name for h in g.heads] == ["logits"]
    assert not any(s.startswith("aux_head") for s in (g.scope(n) for n in g.nodes()))
    assert len(m.graph) - len(g) == 16
    assert prune_aux(g) is False


def test_keep_aux_keeps_them_at_every_level():
    m = incept_dsl.load("googlenet.incept", model="googlenet")
    assert [h.name for h in m.optimized(1).heads] == ["logits"]
    heads = [h.name for h in m.graph.heads]
    assert sorted(heads) == ["aux1", "aux2", "logits"]
    assert [h.name for h in m.optimized(2, keep_aux=True).heads] == heads
    assert [h.name for h in m.optimized(0).heads] == heads
