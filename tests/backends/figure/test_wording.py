"""What a figure's boxes say: "Concat" or "Filter concat", "(no act.)", `show_norm_act`, costs,
branch labels, display names, the title and legend (escaped), shapes at a sum, `--block` with
several forms, and the `--style` wiring."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from graphviz.quoting import quote
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import incept_dsl
from incept_dsl.backends.figure.dot import FigureOptions, figure
from incept_dsl.backends.figure.legend import esc
from incept_dsl.backends.figure.wording import concat_word
from incept_dsl.cli import main
from incept_dsl.errors import InceptError, UsageError
from incept_dsl.ir.ops import node_costs as costs_of
from incept_dsl.text import human_count as human

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is missing")

PROGRAM = """
block mixed(c) = concat {
    one: conv(c, 1)
    pool: maxpool(3, stride = 1) -> conv(c, 1)
}
block res = residual { conv(16, 3) -> conv(16, 3, act = none) } -> relu

model small {
    input image: 3x16x16
    defaults conv(bn = true, act = relu)
    x = image -> conv(16, 3, act = gelu) as stem "Stem <&>" -> mixed(8) as mixed_3a "Mixed (3a)"
    output y = x -> res -> avgpool(global) -> flatten -> linear(10)
}
"""


def _small() -> incept_dsl.Model:
    return incept_dsl.loads(PROGRAM, name="small.incept")


def _node(dot: str, key: str) -> str:
    m = re.search(r'^\t+"?' + re.escape(key) + r'"? \[(.*)\]$', dot, re.M)
    assert m is not None, key
    return m[1]


def test_concat_is_filter_concat_only_in_the_inception_family() -> None:
    assert "Filter concat" in incept_dsl.load("googlenet.incept", model="googlenet").to_dot(
        block="inception"
    )
    assert concat_word(incept_dsl.load("inception_v4.incept").graph) == "Filter concat"
    unet = incept_dsl.load("unet.incept", model="unet").to_dot()
    assert "Concat" in unet and "Filter concat" not in unet
    assert "Filter concat" not in _small().to_dot(expand=True)


def test_a_conv_without_activation_is_marked_no_act_and_the_legend_says_why() -> None:
    dot = _small().to_dot(expand=True, legend=True)
    assert "3×3 Conv, 16 (no act.)" in dot  # res's second conv
    assert "no activation after the conv" in dot  # the legend, in the root graph's label


def test_show_norm_act_names_the_batch_norm_and_the_activation() -> None:
    plain = _small().to_dot(expand=True)
    shown = _small().to_dot(expand=True, show_norm_act=True)
    assert "3×3 Conv, 16, GELU" in plain and "+ BN" not in plain
    assert "3×3 Conv, 16 + BN + GELU" in shown
    assert "1×1 Conv, 8 + BN + ReLU" in shown
    assert "3×3 Conv, 16 + BN" in shown and "(no act.)" not in shown


def test_costs_are_the_summary_tables_numbers() -> None:
    m = _small()
    fig = figure(m.graph, FigureOptions(expand=True))
    params = sum(costs_of(m.graph, it.nodes)[0] for it in fig.items.values() if it.kind != "head")
    macs = sum(costs_of(m.graph, it.nodes)[1] for it in fig.items.values() if it.kind != "head")
    total = m.summary().total
    assert (params, macs) == (total.params, total.macs)
    dot = m.to_dot(expand=True, costs=True)
    p, mac = costs_of(m.graph, [n for n in m.graph.nodes() if m.graph.scope(n) == "linear_1"])
    assert f"{human(p)} params · {human(mac)} MACs" in _node(dot, "linear_1")
    assert "params" not in _node(dot, "flatten_1")  # a box with no cost gets no cost line


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0"), (864, "864"), (9_408, "9.4K"), (23_500_000, "23.5M"), (4 * 10**9, "4.0G")],
)
def test_human_counts(n: int, text: str) -> None:
    assert human(n) == text


def test_branch_labels_are_on_the_arrows_into_their_branches() -> None:
    dot = _small().to_dot(block="mixed_3a")
    assert re.search(r'"input@1" -> "mixed_3a\.one\.conv_1" \[label=" one"\]', dot)
    assert re.search(r'"input@1" -> "mixed_3a\.pool\.maxpool_1" \[label=" pool"\]', dot)
    tv = incept_dsl.load("googlenet.incept", model="googlenet_tv").to_dot(block="inception_tv")
    assert all(f'label=" branch{i}"' in tv for i in range(1, 5))


def test_one_shape_label_at_a_residual_sum() -> None:
    dot = _small().to_dot(expand=True)
    into = re.findall(r'-> "?res_1\.add_1"? \[label="([^"]*)"\]', dot)
    assert into == []  # the sum's shape is written once, after it
    assert re.search(r'"?res_1\.add_1"? -> "?res_1\.relu_1"? \[label=" 16×16×16"\]', dot)


def test_names_as_written_and_display_names() -> None:
    dot = _small().to_dot(expand=True)
    assert 'label="Mixed (3a)"' in dot  # the cluster of `as mixed_3a "Mixed (3a)"`
    assert "Stem &lt;&amp;&gt;<BR/>" in _node(dot, "stem")  # escaped, over the op's label
    unet = incept_dsl.load("unet.incept", model="unet").to_dot()
    assert "label=<double_conv<BR/>" in unet and "Double conv" not in unet


def test_block_with_several_forms_lists_them_and_a_scope_picks_one() -> None:
    m = incept_dsl.load("densenet.incept", model="densenet121")
    with pytest.raises(UsageError, match=r"(?s)4 different forms.*--block denseblock1:"):
        m.to_dot(block="dense_block")
    assert "rankdir=BT" in m.to_dot(block="denseblock2")


def test_title_and_legend_are_in_the_dot_text() -> None:
    dot = _small().to_dot(title="Fig. 1 <b>&", legend=True)
    label = re.search(r"^\tgraph \[.*label=<(<TABLE.*</TABLE>)>", dot, re.M)
    assert label is not None  # title and legend: the root graph's label, which moves no box
    assert '<FONT POINT-SIZE="14">Fig. 1 &lt;b&gt;&amp;</FONT>' in label[1]
    assert "convolution" in label[1] and "fully connected" in label[1]
    assert "tokens×width" not in label[1] and "shapes: channels×height×width" in label[1]


@pytest.mark.parametrize("title", ["", "two\nlines", "x" * 201])
def test_bad_titles_are_usage_errors(title: str) -> None:
    with pytest.raises(UsageError, match="title"):
        FigureOptions(title=title)


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60)


@needs_dot
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=_TEXT.filter(lambda t: t.strip() and not any(c in t for c in "\r\n\0")))
def test_any_title_is_escaped_and_graphviz_reads_it(title: str) -> None:
    dot = _small().to_dot(title=title)
    assert esc(title) in dot
    done = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True, check=False)
    assert done.returncode == 0, done.stderr


@needs_dot
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cf", "Zl", "Zp")), max_size=40)
)
def test_any_display_name_is_escaped_or_refused(name: str) -> None:
    source = PROGRAM.replace('"Mixed (3a)"', '"' + name.replace('"', "'") + '"')
    try:
        m = incept_dsl.loads(source, name="p.incept")
    except InceptError as err:  # empty or blank: a clear error at the name
        assert "display name" in str(err) and not name.replace('"', "'").strip()
        return
    dot = m.to_dot(expand=True)
    shown = name.replace('"', "'")
    assert m.graph.data["display_names"]["mixed_3a"] == shown
    assert f"label=<{esc(shown)}>" in dot or f"label={quote(shown)}" in dot
    done = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True, check=False)
    assert done.returncode == 0, done.stderr


def test_blocks_style_is_wired_and_refuses_graph_only_options(tmp_path, capsys) -> None:
    out = tmp_path / "r.svg"
    args = ["render", "resnet.incept", "--model", "resnet18", "--style", "blocks"]
    assert main([*args, "-o", str(out)]) == 0
    assert out.read_text().lstrip().startswith(("<?xml", "<svg"))
    assert main([*args, "--legend", "-o", str(tmp_path / "x.svg")]) == 2
    assert "--legend draw(s) only in the graph style" in capsys.readouterr().err
    assert (
        main(["render", "resnet.incept", "--model", "resnet18", "-o", str(tmp_path / "x.tex")]) == 2
    )
    assert "add --style blocks" in capsys.readouterr().err
