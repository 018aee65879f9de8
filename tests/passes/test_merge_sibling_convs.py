"""merge-sibling-convs: which siblings merge (and why others do not), names, spans, weights."""

from __future__ import annotations

import pytest
from helpers import model
from optimizer_helpers import ARCH, carried, outputs_agree, randomize

import incept_dsl
from incept_dsl.passes import run_pipeline
from incept_dsl.passes.merge_sibling_convs import merge_sibling_convs

BN = """model t {
    input x: 8x12x12
    defaults conv(bn = true, act = relu, bias = false)
    y = x -> conv(8, 3)
    output out = y -> concat {
        conv(8, 1)
        conv(4, 1) -> conv(6, 3)
        conv(5, 1, stride = 2) -> conv(6, 3, stride = 1, padding = 1) -> expect(6x6x6)
                               -> adaptive_avgpool(12)
        conv(3, 3)
        conv(7, 1)
    }
}
"""


def _merge_notes(m: incept_dsl.Model) -> list[str]:
    out: list[str] = []
    run_pipeline(
        m.graph,
        passes=("merge-sibling-convs",),
        log=lambda name, changed, g, notes: out.extend(notes),
    )
    return out


def test_siblings_with_batch_norms_merge_with_them():
    m = model(BN)
    net0, net, g = carried(m, ("merge-sibling-convs",))
    conv = g.by_scope("merged_1.conv")
    assert g.attrs(conv)["out_channels"] == 8 + 4 + 7 and g.attrs(conv)["kernel"] == (1, 1)
    bn = g.by_scope("merged_1.bn")
    assert g.attrs(bn)["num_features"] == 19 and g.inputs(bn) == [conv]
    relu = g.by_scope("merged_1.relu")
    slices = [u for u, _ in g.users(relu)]
    assert [g.op(s) for s in slices] == ["slice"] * 3
    assert {g.scope(s) for s in slices} == {
        "branch_1.conv_1.relu",
        "branch_2.conv_1.relu",
        "branch_5.conv_1.relu",
    }
    assert [(g.attrs(s)["start"], g.attrs(s)["end"]) for s in slices] == [(0, 8), (8, 12), (12, 19)]
    outputs_agree(net0, net, m)


def test_a_slice_keeps_the_span_of_what_it_replaces():
    m = model(BN)
    before = {m.graph.scope(n): m.graph.span(n) for n in m.graph.nodes()}
    g = run_pipeline(m.graph, passes=("merge-sibling-convs",))
    for n in g.nodes("slice"):
        assert g.span(n) == before[g.scope(n)]
    assert g.span(g.by_scope("merged_1.conv")) == before["branch_1.conv_1.conv"]


def test_siblings_that_differ_are_reported_with_the_reason():
    notes = _merge_notes(model(BN))
    assert any(n.startswith("merged 3 convs (1×1") for n in notes)
    strided = [n for n in notes if "branch_3.conv_1.conv" in n]
    assert strided and strided[0].startswith("not merged") and "stride 2×2" in strided[0]
    three = [n for n in notes if "branch_4.conv_1.conv" in n]
    assert three and "3×3" in three[0] and "no sibling" in three[0]


def test_grouped_convolutions_do_not_merge():
    m = model("""model t {
        input x: 8x6x6
        output y = x -> concat { conv(8, 1, groups = 2); conv(8, 1, groups = 2) }
    }""")
    notes = _merge_notes(m)
    assert sum("grouped convolution (groups = 2)" in n for n in notes) == 2
    g = m.graph.copy()
    assert merge_sibling_convs(g) is False


def test_followers_merge_only_as_far_as_they_agree():
    m = model("""model t {
        input x: 4x6x6
        output y = x -> concat {
            conv(3, 1, act = relu) -> scale(2.0)
            conv(5, 1, act = relu) -> scale(3.0)
            conv(2, 1, act = tanh)
        }
    }""")
    net0, net, g = carried(m, ("merge-sibling-convs",))
    ops = [g.op(n) for n in g.order()]
    # the activations disagree (relu, relu, tanh): only the convs merge, each keeps its own
    assert ops.count("conv") == 1 and ops.count("relu") == 2 and ops.count("tanh") == 1
    assert g.attrs(g.by_scope("merged_1.conv"))["out_channels"] == 10
    outputs_agree(net0, net, m)

    m2 = model("""model t {
        input x: 4x6x6
        output y = x -> concat { conv(3, 1, act = relu) -> scale(2.0)
                                 conv(5, 1, act = relu) -> scale(2.0) }
    }""")
    net0, net, g = carried(m2, ("merge-sibling-convs",))
    assert [g.op(n) for n in g.order()].count("scale") == 1
    outputs_agree(net0, net, m2)


def test_leaky_relus_merge_only_with_equal_slopes():
    m = model("""model t {
        input x: 4x6x6
        defaults conv(bn = true)
        output y = x -> concat {
            conv(3, 1, act = leaky_relu) -> hardswish
            conv(5, 1, act = leaky_relu) -> hardswish
            conv(2, 1) -> leaky_relu(slope = 0.01) -> hardsigmoid
        }
    }""")
    net0, net, g = carried(m, ("merge-sibling-convs",))
    ops = [g.op(n) for n in g.order()]
    # equal slopes (act = leaky_relu is slope 0.01): conv, bn and leaky_relu merge; the third
    # sibling's hardsigmoid is not the others' hardswish, so the merge ends before them
    assert ops.count("conv") == 1 and ops.count("leaky_relu") == 1
    assert ops.count("hardswish") == 2 and ops.count("hardsigmoid") == 1
    assert g.attrs(g.by_scope("merged_1.leaky_relu")) == {"slope": 0.01}
    outputs_agree(net0, net, m)

    m2 = model("""model t {
        input x: 4x6x6
        output y = x -> concat { conv(3, 1) -> leaky_relu(slope = 0.1) -> hardswish
                                 conv(5, 1) -> leaky_relu(slope = 0.2) -> hardswish }
    }""")
    net0, net, g = carried(m2, ("merge-sibling-convs",))
    ops = [g.op(n) for n in g.order()]
    assert ops.count("conv") == 1 and ops.count("leaky_relu") == 2 and ops.count("hardswish") == 2
    assert sorted(g.attrs(n)["slope"] for n in g.nodes("leaky_relu")) == [0.1, 0.2]
    outputs_agree(net0, net, m2)
    for level in (1, 2):
        n0 = randomize(m2.to_torch()).eval()
        outputs_agree(n0, m2.to_torch(opt_level=level, state_dict=n0.state_dict()), m2)


def test_heads_follow_the_slices():
    m = model("""model t {
        input x: 3x8x8
        output a = x -> conv(4, 1)
        output b = x -> conv(6, 1, bias = false)
    }""")
    net0, net, g = carried(m, ("merge-sibling-convs",))
    assert [g.op(h.node) for h in g.heads] == ["slice", "slice"]
    assert [g.scope(h.node) for h in g.heads] == ["conv_1", "conv_2"]
    assert g.attrs(g.by_scope("merged_1.conv"))["bias"] is True  # zero bias for conv_2's part
    outputs_agree(net0, net, m)


def test_merged_names_are_fresh_and_nest_under_the_common_scope():
    m = incept_dsl.load("googlenet.incept", model="googlenet")
    g = run_pipeline(m.graph, passes=("merge-sibling-convs",))
    merged = sorted(
        {g.scope(n).rsplit(".", 1)[0] for n in g.nodes("conv") if ".merged_" in g.scope(n)}
    )
    assert merged[0] == "inception_3a.merged_1" and len(merged) == 9


#: Sibling groups (groups, convs, pairs, triples) from shared/ANCHORS.md, for the files present.
ANCHORS = {
    ("googlenet.incept", "googlenet"): (9, 27, 0, 9),
    ("googlenet.incept", "googlenet_tv"): (9, 27, 0, 9),
    ("inception_v3.incept", "inception_v3"): (10, 29, None, None),
    ("inception_v4.incept", "inception_v4"): (16, 46, None, None),
    ("inception_resnet_v2.incept", "inception_resnet_v2"): (42, 96, 30, 12),
}


@pytest.mark.parametrize(("file", "name"), sorted(ANCHORS), ids=lambda v: str(v))
def test_sibling_counts_match_the_anchors(file: str, name: str):
    assert (ARCH / file).exists(), f"{file} is missing from architectures/"
    notes = _merge_notes(incept_dsl.load(file, model=name))
    sizes = [int(n.split()[1]) for n in notes if n.startswith("merged ")]
    groups, convs, pairs, triples = ANCHORS[(file, name)]
    assert (len(sizes), sum(sizes)) == (groups, convs)
    if pairs is not None:
        assert (sizes.count(2), sizes.count(3)) == (pairs, triples)
