"""The rows of the cost tables (`incept_dsl.backends.summary.rows`): parts, blocks, roles."""

from __future__ import annotations

import incept_dsl
from incept_dsl.backends.summary.blocks import block_rows
from incept_dsl.backends.summary.rows import block_key, layer_rows, node_parts

PROGRAM = """
block unit(c) = conv(c, 3) -> conv(c, 1)

model m {
    input x: 3x16x16
    defaults conv(act = relu)
    y = x -> conv(8, 3) -> repeat(2) { unit(8) } as stage
    unused = y -> conv(4, 1)
    aux side = y -> avgpool(global) -> flatten -> linear(3) weight 0.5
    output out = y -> maxpool(2) -> concat { conv(4, 1); conv(2, 1) -> conv(6, 5);
                                               avgpool(3, stride = 1) -> conv(2, 1) } as mix
}
"""


def _graph():
    return incept_dsl.loads(PROGRAM).graph


def test_block_key_keeps_repeat_copies_apart():
    assert block_key("conv_1.relu") == "conv_1"
    assert block_key("stage.0.unit_1.conv_2") == "stage.0"
    assert block_key("inception_3a.branch_2.conv_1") == "inception_3a"
    assert block_key("stage.1") == "stage"  # a node at the copy level itself


def test_parts():
    g = _graph()
    parts = {g.scope(n): p for n, p in node_parts(g).items()}
    assert parts["conv_1"] == "main"
    assert parts["linear_1"] == "aux" and parts["avgpool_1"] == "aux"
    assert parts["conv_2"] == "unused"  # bound to `unused`, which no head reads


def test_blocks():
    g = _graph()
    parts = node_parts(g)
    blocks = {b.name: b for b in block_rows(g, parts, layer_rows(g, parts))}
    assert list(blocks)[:3] == ["conv_1", "stage", "conv_2"]  # a repeat is one block, as drawn
    assert blocks["stage"].type == "unit ×2" and blocks["stage"].depth == 4
    assert blocks["mix"].type == "mix" and blocks["mix"].output_shape == (12, 8, 8)
    assert blocks["mix"].channels == {
        "#1×1": "4",
        "#5×5 reduce": "2",
        "#5×5": "6",
        "pool proj": "2",
    }
    assert blocks["conv_2"].part == "unused" and blocks["linear_1"].part == "aux"
    assert (blocks["maxpool_1"].type, blocks["maxpool_1"].patch) == ("max pool", "2×2/2")
