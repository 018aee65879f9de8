"""Fresh numpy weights (`incept_dsl.backends.init_numpy`): drawn in threads for large models,
the same arrays as drawn one after the other."""

from __future__ import annotations

import numpy as np
import pytest

import incept_dsl
from incept_dsl.backends import init_numpy


@pytest.mark.parametrize("scheme", init_numpy.SCHEMES)
def test_threaded_draws_equal_serial_ones_key_for_key(
    scheme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = incept_dsl.load("resnet.incept", model="resnet18").graph
    threaded = init_numpy.init_state(graph, scheme, seed=3)
    monkeypatch.setattr(init_numpy, "_THREADED_FROM", 1 << 62)
    serial = init_numpy.init_state(graph, scheme, seed=3)
    assert list(threaded) == list(serial)
    for key, arr in serial.items():
        assert threaded[key].dtype == arr.dtype and np.array_equal(threaded[key], arr), key


def test_resnet18_is_large_enough_to_draw_in_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test above compares the two paths only if the threaded one runs."""
    used: list[int] = []
    real = init_numpy._run

    def spy(draws, numbers):
        used.append(numbers)
        return real(draws, numbers)

    monkeypatch.setattr(init_numpy, "_run", spy)
    init_numpy.init_state(incept_dsl.load("resnet.incept", model="resnet18").graph)
    assert used and used[0] >= init_numpy._THREADED_FROM
