"""Figures that fit a page: `--width`, wrapping a long chain into columns, the U of an
encoder–decoder network, and the render time of every bundled model in each style.

Goldens: tests/golden/dot/page_*.dot (regenerate with `pytest --update-goldens`).
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

import incept_dsl
from incept_dsl.backends.figure.dot import FigureOptions, figure, render, to_dot
from incept_dsl.backends.figure.options import parse_width
from incept_dsl.backends.figure.page import plan_page, ranks, target_aspect
from incept_dsl.backends.figure.styles import blocks_bytes
from incept_dsl.cli import main
from incept_dsl.errors import UsageError
from incept_dsl.resources import bundled_architectures

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "dot"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is missing")

GOLDEN_CASES = {
    "page_unet_network.dot": ("unet.incept", "unet", {}),
    "page_resnet18_expand_3in5.dot": ("resnet.incept", "resnet18", {"expand": True, "width": 3.5}),
}


def _model(file: str, name: str) -> incept_dsl.Model:
    return incept_dsl.load(file, model=name)


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_golden(case: str, update_goldens: bool) -> None:
    file, name, options = GOLDEN_CASES[case]
    text = _model(file, name).to_dot(**options)
    assert text == _model(file, name).to_dot(**options)  # deterministic
    path = GOLDEN / case
    if update_goldens:
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{case} changed (--update-goldens)"


@pytest.mark.parametrize(
    ("text", "inches"),
    [("3.5in", 3.5), ("7in", 7.0), ("8.89cm", 3.5), ("252pt", 3.5), ("88.9mm", 3.5), (" 7 in ", 7)],
)
def test_widths_in_units(text: str, inches: float) -> None:
    assert parse_width(text) == pytest.approx(inches)


@pytest.mark.parametrize("text", ["7", "wide", "-3in", "0.5in", "60in", "3.5 inches", "1e2in", ""])
def test_bad_widths_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="width"):
        parse_width(text)


def test_a_bad_width_on_the_command_line_is_a_usage_error_without_a_traceback(
    capsys, tmp_path
) -> None:
    out = tmp_path / "u.dot"
    # (a UsageError exits 2, as every usage error of the CLI does)
    assert main(["render", "unet.incept", "--model", "unet", "--width", "3", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "not a width: '3'" in err and "Traceback" not in err
    assert not out.exists()


def _attrs(dot: str, src: str, dst: str) -> str:
    """The attributes of the arrow src -> dst as written (or dst -> src with dir=back)."""
    for a, b, attrs in re.findall(r'^\t+"?([^"\s]+)"? -> "?([^"\s]+)"?(?: \[(.*)\])?$', dot, re.M):
        if (a, b) == (src, dst) or ((a, b) == (dst, src) and "dir=back" in attrs):
            return attrs
    raise AssertionError(f"no arrow {src} -> {dst}")


def test_unet_is_drawn_as_a_u_with_horizontal_skips_and_the_up_path_going_up() -> None:
    m = _model("unet.incept", "unet")
    dot = m.to_dot()
    fig = figure(m.graph, FigureOptions())
    plan = plan_page(fig, None, "TB", {})
    assert plan.kind == "u"
    skips = sorted(tuple(g) for g in plan.same_rank if g[-1].startswith("concat_"))
    # each copy-and-crop arrow joins a level of the down path to the concat of the same level
    assert len(skips) == 4 and all(dst.startswith("concat_") for _, dst in skips)
    for src, dst in skips:
        assert re.search(r"rank=same\s+" + re.escape(src) + r"\s+" + re.escape(dst), dot)
    # the up path is laid out upwards: its arrows are reversed, drawn with dir=back
    assert "dir=back" in _attrs(dot, "concat_1", "double_conv_2")
    assert "dir=back" not in _attrs(dot, "double_conv_1", "down_1")  # the down path goes down
    # between two concats, the up path's boxes make one row: double_conv, then the up-conv
    assert ["double_conv_2", "up_conv_2.conv_transpose_1"] in plan.same_rank


def test_networks_without_nested_skips_are_no_u() -> None:
    for file, name in (("resnet.incept", "resnet50"), ("densenet.incept", "densenet121")):
        m = _model(file, name)
        fig = figure(m.graph, FigureOptions(expand=True))
        assert plan_page(fig, None, "TB", {}).kind != "u", name


def test_a_long_chain_wraps_into_columns_without_splitting_a_block() -> None:
    m = _model("resnet.incept", "resnet50")
    fig = figure(m.graph, FigureOptions(expand=True))
    rank = ranks(fig)
    plan = plan_page(fig, 7.0, "TB", {k: 20 for k in fig.items})
    assert plan.kind == "wrap" and 2 <= plan.segments <= 8
    heads = plan.same_rank[0]
    starts = sorted(rank[h] for h in heads)
    assert len(set(rank[h] for h in heads)) == len(heads)
    for sub in fig.top.clusters:  # every top-level block lies in one column
        keys = [k for k in fig.items if k.startswith(sub.container.path + ".")]
        cols = {sum(1 for s in starts if rank[k] >= s) for k in keys}
        assert len(cols) == 1, sub.container.path
    # the arrows between columns do not constrain the ranks
    assert all(a == {"constraint": "false"} for a in plan.edge_attrs.values())
    assert plan.graph_attrs["size"] == "7,9.1"


def test_short_figures_do_not_wrap() -> None:
    m = _model("googlenet.incept", "googlenet")
    dot = m.to_dot(block="inception")
    assert "rank=same" not in dot and "constraint=false" not in dot


def test_target_aspect_follows_the_page() -> None:
    assert target_aspect(3.5, lr=False) > target_aspect(7.0, lr=False) >= 1.0
    assert target_aspect(7.0, lr=True) > target_aspect(3.5, lr=True)


def _svg_inches(svg: bytes) -> tuple[float, float]:
    w, h = re.search(rb'<svg width="([\d.]+)pt" height="([\d.]+)pt"', svg).groups()  # type: ignore[union-attr]
    return float(w) / 72, float(h) / 72


@needs_dot
@pytest.mark.parametrize("width", [3.5, 7.0])
def test_resnet50_expanded_fits_the_page_width_and_height(width: float) -> None:
    """Before: 907×14,743 px at 200 dpi (4.5 × 73.7 in), one endless column."""
    m = _model("resnet.incept", "resnet50")
    w, h = _svg_inches(render(m.to_dot(expand=True, width=width), "svg"))
    assert w <= width + 0.01 and h <= 9.6, (w, h)
    assert h / w < 3.0, (w, h)


@needs_dot
def test_unet_lays_out_about_square_not_as_a_strip() -> None:
    """Before: 1035×2549 px, a 1 : 2.5 column (the LR view a 21 : 1 strip)."""
    w, h = _svg_inches(render(_model("unet.incept", "unet").to_dot(width=7.0), "svg"))
    assert w <= 7.01 and 0.8 < h / w < 2.2, (w, h)


@needs_dot
def test_every_bundled_model_renders_in_each_style_in_a_few_seconds() -> None:
    """The network view (graph style, laid out for 7 in) and the blocks style of each of the 46
    bundled models. Measured: about 3 s for all 92 figures, the slowest 0.1 s."""
    slowest = 0.0
    for path in bundled_architectures():
        for m in incept_dsl.load_all(path):
            graph = m.figure_graph(0, True)
            for style in ("graph", "blocks"):
                opts = FigureOptions(style=style, width=7.0)
                start = time.perf_counter()
                data = render(to_dot(graph, opts), "svg") if style == "graph" else None
                data = data or blocks_bytes(graph, opts, "svg")
                took = time.perf_counter() - start
                assert data.lstrip().startswith((b"<?xml", b"<svg")), (m.name, style)
                slowest = max(slowest, took)
                assert took < 5.0, (m.name, style, took)


def test_unet_left_to_right_has_one_column_per_level() -> None:
    m = _model("unet.incept", "unet")
    fig = figure(m.graph, FigureOptions(rankdir="LR"))
    plan = plan_page(fig, None, "LR", {})
    assert plan.kind == "u" and len(plan.same_rank) == 5  # four skips: five levels
    top, bottom = plan.same_rank[0], plan.same_rank[-1]
    assert {"image", "double_conv_1", "concat_4", "output@scores"} <= set(top)
    assert bottom == ["down_4", "up_conv_1.conv_transpose_1"]  # the turn of the U
    # an arrow up a level (into a concat) is reversed in the layout
    assert ("up_conv_4.conv_transpose_1", "concat_4") in plan.reversed


@needs_dot
def test_unet_left_to_right_is_no_strip() -> None:
    """Before: 5321×249 px, a 21 : 1 strip."""
    w, h = _svg_inches(render(_model("unet.incept", "unet").to_dot(rankdir="LR"), "svg"))
    assert w / h < 3.5, (w, h)
