"""channels-last: a layout for image models only; the IR's function is untouched."""

from __future__ import annotations

from helpers import model

import incept_dsl
from incept_dsl.passes.channels_last import channels_last


def test_image_models_get_channels_last_once():
    g = incept_dsl.load("googlenet.incept", model="googlenet").graph.copy()
    dump = g.dump()
    assert channels_last(g) is True and g.data["memory_format"] == "channels_last"
    assert channels_last(g) is False
    assert g.dump() == dump


def test_a_flat_model_keeps_the_default_layout():
    g = model("""model mlp { input x: 3x4x4
                             output y = x -> flatten -> linear(8, act = relu) -> linear(2) }""").graph
    g = g.copy()
    assert channels_last(g) is False and "memory_format" not in g.data
