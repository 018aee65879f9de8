"""Inception-ResNet-v1 (no reference implementation) against the paper's stated shapes.

Szegedy et al. 2017, Figure 6 [arXiv Fig. 14, 15]: 35×35×256 after the stem, 17×17×896 after
Reduction-A, 8×8×1792 after Reduction-B, with 5 / 10 / 5 residual modules at 35×35 / 17×17 / 8×8.
The file states these with `expect(...)`; these tests read them back from the IR, check that the
`expect`s really guard them, and check that the PyTorch module agrees.
"""

from __future__ import annotations

import re

import pytest

import incept_dsl
from incept_dsl.errors import InceptShapeError
from incept_dsl.ir.graph import Graph
from incept_dsl.resources import resolve_program_path

FILE = "inception_resnet_v1.incept"

#: The paper's stage outputs (C, H, W) at 299×299, by the scope the file gives each stage.
PAPER_STAGES = {
    "stem": (256, 35, 35),
    "repeat_a": (256, 35, 35),
    "reduction_a": (896, 17, 17),
    "repeat_b": (896, 17, 17),
    "reduction_b": (1792, 8, 8),
    "repeat_c": (1792, 8, 8),
}

#: Figure 6 right [Fig. 14]: the stem, layer by layer ("sizes to the side of each layer").
PAPER_STEM = [
    ("stem.conv_1", (32, 149, 149)),  # 3x3 conv, 32, stride 2 V
    ("stem.conv_2", (32, 147, 147)),  # 3x3 conv, 32 V
    ("stem.conv_3", (64, 147, 147)),  # 3x3 conv, 64
    ("stem.maxpool_1", (64, 73, 73)),  # 3x3 max pool, stride 2 V
    ("stem.conv_4", (80, 73, 73)),  # 1x1 conv, 80
    ("stem.conv_5", (192, 71, 71)),  # 3x3 conv, 192 V
    ("stem.conv_6", (256, 35, 35)),  # 3x3 conv, 256, stride 2 V
]


@pytest.fixture(scope="module")
def model() -> incept_dsl.Model:
    return incept_dsl.load(FILE)


def scope_output(g: Graph, scope: str) -> int:
    """The one node inside `scope` whose output is read outside it (the scope's result)."""
    inside = {n for n in g.nodes() if g.scope(n) == scope or g.scope(n).startswith(scope + ".")}
    outs = [n for n in inside if any(u not in inside for u, _ in g.users(n))]
    assert len(outs) == 1, f"{scope} has {len(outs)} outputs"
    return outs[0]


def test_stage_shapes_are_the_papers(model: incept_dsl.Model) -> None:
    g = model.graph
    assert model.inputs == {"image": (3, 299, 299)}
    got = {scope: g.shape(scope_output(g, scope)) for scope in PAPER_STAGES}
    assert got == PAPER_STAGES
    assert model.outputs == {"logits": (1000,)}


def test_stem_layer_shapes_are_the_papers(model: incept_dsl.Model) -> None:
    g = model.graph
    assert [(s, g.shape(scope_output(g, s))) for s, _ in PAPER_STEM] == PAPER_STEM


def test_module_counts_and_residual_scales(model: incept_dsl.Model) -> None:
    """5 x A, 10 x B, 5 x C residual modules, each `x + s * body(x)` with the TF-slim scales."""
    g = model.graph
    for stage, (count, scale, width) in {
        "repeat_a": (5, 0.17, 256),
        "repeat_b": (10, 0.10, 896),
        "repeat_c": (5, 0.20, 1792),
    }.items():
        scales = [g.attrs(n)["s"] for n in g.nodes("scale") if g.scope(n).startswith(stage + ".")]
        assert scales == [scale] * count
        adds = [n for n in g.nodes("add") if g.scope(n).startswith(stage + ".")]
        assert len(adds) == count and all(g.shape(n)[0] == width for n in adds)
        # the up-projection ("1x1 Conv, Linear") has a bias and feeds the scale directly
        for n in g.nodes("scale"):
            if g.scope(n).startswith(stage + "."):
                (proj,) = g.inputs(n)
                assert g.op(proj) == "conv" and g.attrs(proj)["bias"]
                assert g.attrs(proj)["out_channels"] == width


@pytest.mark.parametrize("stage", ["stem", "reduction_a", "reduction_b"])
def test_the_files_expects_guard_the_paper_shapes(stage: str) -> None:
    """The file states each paper shape with an `expect` right after the stage; changing it
    makes the file fail to compile, at that line."""
    text = resolve_program_path(FILE).read_text()
    c, h, w = PAPER_STAGES[stage]
    found = re.search(rf"as {stage}\s*-> expect\(({c}x{h}x{w})\)", text)
    assert found, f"no expect({c}x{h}x{w}) after the stage '{stage}'"
    broken = text[: found.start(1)] + f"{c}x{h + 1}x{w + 1}" + text[found.end(1) :]
    with pytest.raises(InceptShapeError) as info:
        incept_dsl.loads(broken, name=FILE)
    assert info.value.span is not None
    assert info.value.span.line == text[: found.start(1)].count("\n") + 1


def test_cost_is_roughly_inception_v3s(model: incept_dsl.Model) -> None:
    """The paper's only cost statement: Inception-ResNet-v1 "has roughly the computational cost
    of Inception-v3" (torchvision's Inception-v3 without aux head at 299: 23,834,568 parameters
    and 5,713,216,096 conv + linear multiply-adds, shared/ANCHORS.md)."""
    by_op = model.summary().macs_by_op()
    assert model.param_count() == pytest.approx(23_834_568, rel=0.2)
    assert by_op["conv"] + by_op["linear"] == pytest.approx(5_713_216_096, rel=0.2)


def test_torch_module_agrees_with_the_ir(model: incept_dsl.Model) -> None:
    import torch

    net = model.to_torch().eval()
    assert sum(p.numel() for p in net.parameters()) == model.param_count()
    mods = dict(net.named_modules())
    seen: dict[str, tuple[int, ...]] = {}
    for name in (
        "stem.conv_6.bn",
        "reduction_a.branch_1.conv_1.bn",
        "reduction_b.branch_1.conv_2.bn",
    ):
        mods[name].register_forward_hook(
            lambda m, i, o, name=name: seen.__setitem__(name, tuple(o.shape[1:]))
        )
    with torch.no_grad():
        out = net(torch.randn(1, 3, 299, 299, generator=torch.Generator().manual_seed(0)))
    assert out.shape == (1, 1000) and torch.isfinite(out).all()
    assert seen == {
        "stem.conv_6.bn": (256, 35, 35),
        "reduction_a.branch_1.conv_1.bn": (384, 17, 17),
        "reduction_b.branch_1.conv_2.bn": (384, 8, 8),
    }
