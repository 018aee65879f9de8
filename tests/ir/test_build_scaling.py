"""Elaboration work grows linearly with the number of statements and heads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import incept_dsl
from incept_dsl.ir import graph as graph_mod


class _CountingList(list):  # type: ignore[type-arg]
    """A list that counts the items handed out by iterating it."""

    seen = 0

    def __iter__(self) -> Iterator[Any]:
        for item in super().__iter__():
            _CountingList.seen += 1
            yield item


def test_many_output_heads_are_checked_in_linear_work(monkeypatch: pytest.MonkeyPatch) -> None:
    real_init = graph_mod.Graph.__init__

    def init(self: graph_mod.Graph, name: str = "model") -> None:
        real_init(self, name)
        self.data["heads"] = _CountingList()

    monkeypatch.setattr(graph_mod.Graph, "__init__", init)
    _CountingList.seen = 0
    n = 3_000
    body = "".join(f"  output y{i} = x -> relu\n" for i in range(n))
    m = incept_dsl.loads(f"model m {{\n  input x: 3x8x8\n{body}}}\n")
    assert len(m.graph.heads) == n
    # scanning every head once per statement would be n * (n - 1) / 2 = 4.5 million
    assert _CountingList.seen <= 20 * n


def test_a_second_head_with_the_same_name_is_still_an_error() -> None:
    with pytest.raises(incept_dsl.InceptError, match="a second head named 'y'"):
        incept_dsl.loads(
            "model m {\n  input x: 3x8x8\n  output y = x -> relu\n  aux y = x -> relu weight 0.5\n}\n"
        )
