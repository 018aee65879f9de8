"""Small helpers shared by tests."""

from __future__ import annotations

import incept_dsl


def model(text: str, **kw):
    """Elaborate `text` (one model) into a Model."""
    return incept_dsl.loads(text, **kw)


def shapes(m) -> dict[str, tuple[int, ...]]:
    """{scope: shape} of every IR node."""
    g = m.graph
    return {g.scope(n): g.shape(n) for n in g.order()}
