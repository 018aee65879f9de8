"""The paper-only models and the lecture table, layer by layer.

- `alexnet` (torchvision's) row by row against the lecture notes' AlexNet table (seeds/004,
  Figure 8.1): output C×H×W, memory (KB), parameters (k) and multiply-adds (M), as it rounds them.
- `alexnet_paper` against Figure 2 of Krizhevsky et al. (2012) and its "60 million parameters".
- `zfnet` against Figure 3 of Zeiler and Fergus (2014).
- `googlenet` against Table 1 of Szegedy et al. (2015): every row's output size exactly, every
  Inception module's branch widths, per-row multiply-adds within 6 % of the table, and the totals
  beside the paper's "about 6.8 M parameters" and "1.5 G multiply-adds". Table 1 counts
  parameters in units of 1,024 without biases, and two of its rows disagree with the network it
  describes: the first conv (2.7K parameters, 34M ops, where a 7×7×3 conv with 64 filters has
  9.2K and 118M, as the lecture notes' stem table says) and Inception 4c's parameters (463K,
  where its own 100M ops imply 498K). So the stem is checked against the lecture notes (Figure
  8.7) and the parameter total against the sum of the table's column.
"""

from __future__ import annotations

import math

import pytest

import incept_dsl


def scope_rows(model: incept_dsl.Model) -> dict[str, tuple[tuple[int, ...], int, int, int]]:
    """{top-level scope: (output shape, weights, biases, multiply-adds)} of convs and linears.

    A top-level scope's output is its last node in execution order; aux heads are left out.
    """
    g = model.optimized(0, keep_aux=False)
    rows: dict[str, tuple[tuple[int, ...], int, int, int]] = {}
    for n in g.order():
        top = g.scope(n).split(".")[0]
        _, weights, biases, macs = rows.get(top, ((), 0, 0, 0))
        a = g.attrs(n)
        if g.op(n) == "conv":
            c, h, w = g.shape(n)
            kh, kw = a["kernel"]
            k = c * (a["in_channels"] // a["groups"]) * kh * kw
            weights, biases, macs = weights + k, biases + (c if a["bias"] else 0), macs + k * h * w
        elif g.op(n) == "linear":
            k = a["in_features"] * a["out_features"]
            weights, macs = weights + k, macs + k
            biases += a["out_features"] if a["bias"] else 0
        rows[top] = (g.shape(n), weights, biases, macs)
    return rows


# Figure 8.1 of the lecture notes: layer, output C, H/W, memory (KB), params (k), flop (M)
LECTURE_ALEXNET = [
    ("conv1", 64, 56, 784, 23, 73),
    ("pool1", 64, 27, 182, 0, 0),
    ("conv2", 192, 27, 547, 307, 224),
    ("pool2", 192, 13, 127, 0, 0),
    ("conv3", 384, 13, 254, 664, 112),
    ("conv4", 256, 13, 169, 885, 145),
    ("conv5", 256, 13, 169, 590, 100),
    ("pool5", 256, 6, 36, 0, 0),
    ("fc6", 4096, None, 16, 37_749, 38),
    ("fc7", 4096, None, 16, 16_777, 17),
    ("fc8", 1000, None, 4, 4_096, 4),
]
#: the table's own typo: conv4 is 256·13·13 outputs × 384·3·3 = 149.5 M multiply-adds, not 145
LECTURE_ERRATA = {("conv4", "flop"): 150}


def test_alexnet_matches_the_lecture_table_row_by_row():
    rows = scope_rows(incept_dsl.load("alexnet.incept", model="alexnet"))
    for name, c, hw, memory_kb, params_k, flop_m in LECTURE_ALEXNET:
        shape, weights, _, macs = rows[name]
        assert shape == ((c, hw, hw) if hw else (c,)), name
        assert round(math.prod(shape) * 4 / 1024) == memory_kb, name
        assert round(weights / 1000) == params_k, name  # the table's fc rows leave out biases
        assert round(macs / 1e6) == LECTURE_ERRATA.get((name, "flop"), flop_m), name


# Figure 2 of the AlexNet paper (both GPUs' halves together), after each layer
PAPER_ALEXNET = {
    "conv1": (96, 55, 55),
    "pool1": (96, 27, 27),
    "conv2": (256, 27, 27),
    "pool2": (256, 13, 13),
    "conv3": (384, 13, 13),
    "conv4": (384, 13, 13),
    "conv5": (256, 13, 13),
    "pool5": (256, 6, 6),
    "fc6": (4096,),
    "fc7": (4096,),
    "fc8": (1000,),
}


def test_alexnet_paper_matches_figure_2():
    m = incept_dsl.load("alexnet.incept", model="alexnet_paper")
    rows = scope_rows(m)
    assert {k: rows[k][0] for k in PAPER_ALEXNET} == PAPER_ALEXNET
    g = m.graph
    assert [
        g.attrs(g.by_scope(c))["groups"] for c in ("conv1", "conv2", "conv3", "conv4", "conv5")
    ] == [1, 2, 1, 2, 2]
    assert [g.op(n) for n in g.order()].count("lrn") == 2
    # "60 million parameters" (section 4): 60,965,224 with every bias
    assert m.param_count() == 60_965_224


# Figure 3 of the ZFNet paper, after each layer (pooling and normalisation as one step)
PAPER_ZFNET = {
    "conv1": (96, 110, 110),
    "norm1": (96, 55, 55),
    "conv2": (256, 26, 26),
    "norm2": (256, 13, 13),
    "conv3": (384, 13, 13),
    "conv4": (384, 13, 13),
    "conv5": (256, 13, 13),
    "pool5": (256, 6, 6),
    "fc6": (4096,),
    "fc7": (4096,),
    "fc8": (1000,),
}


def test_zfnet_matches_figure_3():
    m = incept_dsl.load("zfnet.incept")
    rows = scope_rows(m)
    assert {k: rows[k][0] for k in PAPER_ZFNET} == PAPER_ZFNET
    g = m.graph
    assert g.attrs(g.by_scope("conv1"))["kernel"] == (7, 7)
    assert g.attrs(g.by_scope("conv1"))["stride"] == (2, 2)
    assert m.param_count() == 62_357_608


@pytest.mark.parametrize(("c3", "c4", "c5"), [(512, 1024, 512)])
def test_zfnet_wider_layers_of_table_3(c3, c4, c5):
    m = incept_dsl.load("zfnet.incept", params={"c3": c3, "c4": c4, "c5": c5})
    rows = scope_rows(m)
    assert [rows[k][0] for k in ("conv3", "conv4", "conv5", "pool5")] == [
        (c3, 13, 13),
        (c4, 13, 13),
        (c5, 13, 13),
        (c5, 6, 6),
    ]
    assert rows["fc6"][1] == c5 * 36 * 4096


# Table 1: scope in our file, output size, ops (M)
TABLE_1 = [
    ("conv_1", (64, 112, 112), None),  # the table's 34M is an erratum; see STEM below
    ("maxpool_1", (64, 56, 56), 0),
    ("conv_3", (192, 56, 56), None),
    ("maxpool_2", (192, 28, 28), 0),
    ("inception_3a", (256, 28, 28), 128),
    ("inception_3b", (480, 28, 28), 304),
    ("maxpool_3", (480, 14, 14), 0),
    ("inception_4a", (512, 14, 14), 73),
    ("inception_4b", (512, 14, 14), 88),
    ("inception_4c", (512, 14, 14), 100),
    ("inception_4d", (528, 14, 14), 119),
    ("inception_4e", (832, 14, 14), 170),
    ("maxpool_4", (832, 7, 7), 0),
    ("inception_5a", (832, 7, 7), 54),
    ("inception_5b", (1024, 7, 7), 71),
    ("avgpool_1", (1024, 1, 1), 0),
    ("linear_1", (1000,), 1),
]
#: Table 1's parameter column summed (K = 1,024, biases not counted)
TABLE_1_PARAMS_K = 2.7 + 112 + 159 + 380 + 364 + 437 + 463 + 580 + 840 + 1072 + 1388 + 1000
# the lecture notes' stem table: layer, params (K), flop (M)
STEM = [("conv_1", 9, 118), ("conv_2", 4, 13), ("conv_3", 111, 347)]


@pytest.fixture(scope="module")
def googlenet():
    return incept_dsl.load("googlenet.incept", model="googlenet")


def test_every_row_of_table_1(googlenet):
    rows = scope_rows(googlenet)
    for scope, shape, ops_m in TABLE_1:
        assert rows[scope][0] == shape, scope
        if ops_m is not None:
            assert abs(rows[scope][3] / 1e6 - ops_m) <= 0.06 * max(ops_m, 1), scope


def test_stem_matches_the_lecture_table(googlenet):
    rows = scope_rows(googlenet)
    for scope, params_k, flop_m in STEM:
        _, weights, biases, macs = rows[scope]
        assert round((weights + biases) / 1000) == params_k, scope
        assert round(macs / 1e6) == flop_m, scope


def test_inception_widths_of_table_1(googlenet):
    g = googlenet.graph
    widths = {}
    for n in g.nodes("conv"):
        scope = g.scope(n)
        if scope.startswith("inception_"):
            widths.setdefault(scope.split(".")[0], []).append(g.attrs(n)["out_channels"])
    # #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
    assert widths["inception_3a"] == [64, 96, 128, 16, 32, 32]
    assert widths["inception_4d"] == [112, 144, 288, 32, 64, 64]
    assert widths["inception_5b"] == [384, 192, 384, 48, 128, 128]
    kernels = [
        g.attrs(n)["kernel"]
        for n in g.nodes("conv")
        if g.scope(n).startswith("inception_3a.branch_3.")
    ]
    assert kernels == [(1, 1), (5, 5)]


def test_totals_beside_the_paper(googlenet):
    rows = scope_rows(googlenet)
    weights = sum(w for _, w, _, _ in rows.values())
    assert abs(weights / 1024 - TABLE_1_PARAMS_K) <= 0.01 * TABLE_1_PARAMS_K  # ≈ 6.8 M
    assert googlenet.param_count(include_aux=False) == 6_998_552
    macs = sum(m for _, _, _, m in rows.values())
    assert macs == 1_582_671_872
    assert abs(macs / 1.5e9 - 1) <= 0.06  # "1.5 billion multiply-adds"


def test_aux_heads_of_section_5(googlenet):
    assert googlenet.aux == {"aux1": ((1000,), 0.3), "aux2": ((1000,), 0.3)}
    g = googlenet.graph
    pool = g.attrs(g.by_scope("aux_head_1.avgpool_1"))
    assert (pool["kernel"], pool["stride"]) == ((5, 5), (3, 3))
    assert g.shape(g.by_scope("aux_head_1.avgpool_1")) == (512, 4, 4)
    assert g.shape(g.by_scope("aux_head_2.avgpool_1")) == (528, 4, 4)
    assert sorted(g.attrs(n)["p"] for n in g.nodes("dropout")) == [0.4, 0.7, 0.7]
