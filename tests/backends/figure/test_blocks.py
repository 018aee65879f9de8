"""The PlotNeuralNet-style view ("blocks"): what is drawn (geometry), the SVG, its fit to the
width asked for, options, escaping, and the time every bundled model takes."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

import pytest
from helpers import HOSTILE_BLOCKS as HOSTILE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import incept_dsl
from incept_dsl.backends.figure.blocks import BlocksOptions, blocks_drawing, blocks_svg
from incept_dsl.backends.figure.blocks_model import build_model, side, thick
from incept_dsl.backends.figure.blocks_shapes import Label, Line, Polygon, bounds
from incept_dsl.backends.figure.tikz import tikz_source
from incept_dsl.errors import UsageError
from incept_dsl.frontend.loader import Loader
from incept_dsl.ir.graph import Graph
from incept_dsl.resources import bundled_architectures

SVG = "{http://www.w3.org/2000/svg}"

# A block whose name and instance name need escaping in LaTeX; the title comes from hypothesis.


@cache
def graph(path: str, model: str) -> Graph:
    return incept_dsl.load(path, model=model).figure_graph(0, True)


def hostile() -> Graph:
    return incept_dsl.loads(HOSTILE, name="hostile.incept").figure_graph(0, True)


def maps(g: Graph):
    return [t for t in build_model(g).main if t.kind == "map" and t.family != "io"]


# ---- geometry -----------------------------------------------------------------------------------
def test_scales_are_monotone_with_a_floor() -> None:
    sides = [side(n) for n in (1, 7, 14, 28, 56, 112, 224, 512)]
    assert sides == sorted(sides) and len(set(sides)) == len(sides)
    assert side(7) >= 2 * side(0) > 0  # a 7×7 map stays visible
    widths = [thick(c) for c in (1, 3, 64, 256, 1024, 2048)]
    assert widths == sorted(widths) and thick(1) > 1


def test_googlenet_boxes_shrink_in_h_and_grow_in_c() -> None:
    ts = maps(graph("googlenet.incept", "googlenet"))
    hs = [t.shape[1] for t in ts]
    assert hs == sorted(hs, reverse=True) and hs[0] > hs[-1]
    assert [t.h for t in ts] == sorted((t.h for t in ts), reverse=True)
    blocks = [t for t in ts if t.key.startswith("inception_")]
    assert [t.key for t in blocks][:2] == ["inception_3a", "inception_3b"] and len(blocks) == 9
    assert [t.w for t in blocks] == sorted(t.w for t in blocks)
    assert blocks[-1].w > blocks[0].w and blocks[-1].h < blocks[0].h


def test_resnet_stages_shrink_in_h_and_grow_in_c() -> None:
    m = build_model(graph("resnet.incept", "resnet50"))
    stages = [t for t in m.main if t.key.startswith("layer")]
    assert [t.shape for t in stages] == [
        (256, 56, 56),
        (512, 28, 28),
        (1024, 14, 14),
        (2048, 7, 7),
    ]
    assert all(
        a.w < b.w and a.h > b.h and a.d > b.d for a, b in zip(stages, stages[1:], strict=False)
    )
    # stages 2-4 downsample inside (a strided conv first): a pooling slab in front
    assert [t.down for t in stages] == ["", "front", "front", "front"]
    assert m.main[-1].kind == "bar" and m.heads == [("logits", "output", m.main[-1].key)]


def test_pooling_slabs_vectors_and_undrawn_units() -> None:
    m = build_model(graph("googlenet.incept", "googlenet"))
    kinds = {t.key: t.kind for t in m.main}
    assert kinds["maxpool_1"] == "slab" and kinds["conv_1"] == "map"
    assert kinds["linear_1"] == "bar"
    # flatten, dropout and the LRNs leave the tensor as it is: not drawn, arrows pass through
    assert not {"flatten_1", "dropout_1", "lrn_1", "lrn_2"} & set(kinds)
    by_key = {t.key: t for t in m.main}
    assert by_key["linear_1"].preds == ["avgpool_1"] and by_key["conv_2"].preds == ["maxpool_1"]
    vgg = build_model(graph("vgg.incept", "vgg16"))
    stage1 = next(t for t in vgg.main if t.key == "stage1")
    # VGG's stage ends in its pooling: the box is the 224×224 map, the slab the 112×112 after
    assert stage1.down == "back" and stage1.h == side(224) and stage1.sh == side(112)


def test_aux_heads_are_drawn_above_and_can_be_left_out() -> None:
    g = graph("googlenet.incept", "googlenet")
    m = build_model(g)
    assert [t.key for t in m.aux] == ["aux_head_1", "aux_head_2"]
    assert [t.preds for t in m.aux] == [["inception_4a"], ["inception_4d"]]
    assert build_model(g, aux=False).aux == []
    d = blocks_drawing(g, BlocksOptions())
    dashed = [s for s in d.shapes if isinstance(s, Polygon) and s.dashed]
    assert len(dashed) == 2 * 3  # two bars, three faces each
    main_top = max(
        p[1] for s in d.shapes if isinstance(s, Polygon) and not s.dashed for p in s.points
    )
    assert min(p[1] for s in dashed for p in s.points) > main_top * 0.5
    plain = blocks_drawing(g, BlocksOptions(aux=False))
    assert not any(isinstance(s, Polygon) and s.dashed for s in plain.shapes)
    assert "aux1" not in blocks_svg(g, BlocksOptions(aux=False))


def test_unet_skips_arc_over_the_boxes() -> None:
    g = graph("unet.incept", "unet")
    m = build_model(g)
    index = {t.key: i for i, t in enumerate(m.main)}
    skips = [
        (index[p], index[t.key]) for t in m.main for p in t.preds if index[p] != index[t.key] - 1
    ]
    assert len(skips) == 4
    d = blocks_drawing(g, BlocksOptions())
    arcs = [s for s in d.shapes if isinstance(s, Line) and len(s.points) == 4]
    assert len(arcs) == 4
    levels = sorted(s.points[1][1] for s in arcs)
    assert len(set(levels)) == 4  # nested, each at its own height
    boxes = [p for s in d.shapes if isinstance(s, Polygon) for p in s.points]
    for arc in arcs:  # over every box it spans
        (x0, _), (_, y), (x1, _), _ = arc.points
        assert all(py < y for px, py in boxes if x0 < px < x1)
    spans = sorted((abs(s.points[2][0] - s.points[1][0]), s.points[1][1]) for s in arcs)
    assert [y for _, y in spans] == sorted(y for _, y in spans)  # longer ones higher


def test_vit_opens_its_one_block_and_draws_tokens() -> None:
    m = build_model(graph("vit.incept", "vit_b_16"))
    assert len(m.main) >= 6
    tokens = [t for t in m.main if t.kind == "tokens"]
    assert tokens and tokens[-1].shape == (197, 768)
    assert tokens[-1].h == side(197**0.5) and tokens[-1].w == thick(768)
    assert "197×768" in blocks_svg(graph("vit.incept", "vit_b_16"), BlocksOptions())


SMALL = {
    "no layer drawn": "model m { input x: 3x8x8\n output y = x -> relu }",
    "vectors only": "model m { input x: 64\n output y = x -> linear(32, act = relu) -> linear(10) }",
    "two inputs": "model m { input a: 3x8x8\n input b: 3x8x8\n output y = concat(a, b) -> conv(4, 3) }",
    "two outputs": (
        "model m { input a: 3x8x8\n h = a -> conv(4, 3)\n output y = h -> conv(2, 1)\n"
        " output z = h -> avgpool(global) -> flatten -> linear(3) }"
    ),
}


@pytest.mark.parametrize("width", [None, 1.0, 30.0])
@pytest.mark.parametrize("name", sorted(SMALL))
def test_small_programs_draw_with_every_head_named(name: str, width: float | None) -> None:
    g = incept_dsl.loads(SMALL[name]).figure_graph(0, True)
    opts = BlocksOptions(width_in=width)
    root = ET.fromstring(blocks_svg(g, opts))
    texts = {t.text for t in root.iter(f"{SVG}text")}
    assert {h.name for h in g.heads} <= texts
    assert set(g.data["inputs"]) <= texts
    d = blocks_drawing(g, opts)
    x0, y0, x1, y1 = bounds(list(d.shapes))
    assert x0 >= 0 and y0 >= 0 and x1 <= d.width + 1e-6 and y1 <= d.height + 1e-6
    if width is not None:
        assert d.width == pytest.approx(width * 72)
    assert tikz_source(g, opts).isascii()


# ---- the SVG ------------------------------------------------------------------------------------
def test_svg_parses_and_is_deterministic() -> None:
    g = graph("googlenet.incept", "googlenet")
    opts = BlocksOptions(title="GoogLeNet", width_in=7)
    svg = blocks_svg(g, opts)
    assert svg == blocks_svg(graph.__wrapped__("googlenet.incept", "googlenet"), opts)
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("width") == "7.00in"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "GoogLeNet" in texts and "inception_4e" in texts and "832, 14×14" in texts
    assert len(root.findall(f"{SVG}polygon")) > 3 * 20


@pytest.mark.parametrize("width", [2.0, 5.5, 7.0, 16.0])
@pytest.mark.parametrize(
    ("path", "model"), [("googlenet.incept", "googlenet"), ("unet.incept", "unet")]
)
def test_the_drawing_fits_the_width(path: str, model: str, width: float) -> None:
    d = blocks_drawing(graph(path, model), BlocksOptions(width_in=width, title="A title"))
    assert d.width == pytest.approx(width * 72)
    x0, y0, x1, y1 = bounds(list(d.shapes))
    assert x0 >= 0 and y0 >= 0 and x1 <= d.width + 1e-6 and y1 <= d.height + 1e-6
    assert x1 >= d.width - 10  # filled, not just inside
    root = ET.fromstring(blocks_svg(graph(path, model), BlocksOptions(width_in=width)))
    assert root.get("width") == f"{width:.2f}in"
    assert root.get("viewBox", "").split()[2] == f"{width * 72:.2f}"


def test_wider_drawings_have_bigger_boxes_but_the_same_text() -> None:
    g = graph("resnet.incept", "resnet50")

    def sizes(width: float) -> tuple[float, float]:
        d = blocks_drawing(g, BlocksOptions(width_in=width))
        box = max(p[1] for s in d.shapes if isinstance(s, Polygon) for p in s.points)
        return box, max(s.size for s in d.shapes if isinstance(s, Label))

    (small, text_small), (big, text_big) = sizes(6), sizes(12)
    assert big > 1.5 * small and text_small == pytest.approx(text_big)


def test_shapes_option_and_grayscale() -> None:
    g = graph("googlenet.incept", "googlenet")
    with_shapes = blocks_svg(g, BlocksOptions())
    without = blocks_svg(g, BlocksOptions(shapes=False))
    assert "1024, 7×7" in with_shapes and "1024, 7×7" not in without
    gray = ET.fromstring(blocks_svg(g, BlocksOptions(theme="grayscale")))
    for el in gray.iter(f"{SVG}polygon"):
        fill = el.get("fill", "")
        assert fill[1:3] == fill[3:5] == fill[5:7], fill


@pytest.mark.parametrize(
    "kw",
    [
        {"theme": "neon"},
        {"width_in": 0},
        {"width_in": -3},
        {"width_in": float("nan")},
        {"width_in": 1e6},
        {"font": ""},
        {"font": 'a"b'},
        {"title": "x" * 501},
    ],
)
def test_bad_options_are_usage_errors(kw: dict) -> None:
    with pytest.raises(UsageError):
        BlocksOptions(**kw)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(min_size=1, max_size=40))
def test_hostile_titles_come_out_escaped_in_the_svg(title: str) -> None:
    g = hostile()
    svg = blocks_svg(g, BlocksOptions(title=title))
    root = ET.fromstring(svg)  # parses: nothing broke out of its element
    texts = [_newlines(t.text or "") for t in root.iter(f"{SVG}text")]
    assert _newlines("".join(c if _xml_char(c) else "\ufffd" for c in title)) in texts
    assert any("a_b" in t for t in texts) and any("c_d" in t for t in texts)


def _xml_char(c: str) -> bool:
    """Whether XML 1.0 can hold character `c` (its `Char` production)."""
    o = ord(c)
    return c in "\t\n\r" or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or o >= 0x10000


def _newlines(text: str) -> str:
    """`text` with its line ends as an XML parser reads them."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ---- every bundled model, in both outputs ------------------------------------------------------
_MODELS = [
    (p, m.name) for p in bundled_architectures() for m in Loader().load_path(p).program.models
]
LIMIT_S = 3.0


@pytest.mark.parametrize(("path", "model"), _MODELS, ids=[f"{p.stem}-{m}" for p, m in _MODELS])
def test_every_bundled_model_draws_quickly(path: Path, model: str) -> None:
    g = incept_dsl.load(path, model=model).figure_graph(0, True)
    start = time.perf_counter()
    svg = blocks_svg(g, BlocksOptions(width_in=7))
    tex = tikz_source(g, BlocksOptions(width_in=7))
    elapsed = time.perf_counter() - start
    assert elapsed < LIMIT_S, f"{model}: {elapsed:.2f} s"
    assert len(build_model(g).main) >= 3
    ET.fromstring(svg)
    assert tex.count(r"\begin{tikzpicture}") == 1 and tex.rstrip().endswith(r"\end{document}")
