"""The Graphviz backend: views, labels, themes, determinism, the CLI, and a missing `dot`.

Golden DOT files live in tests/golden/dot/ (regenerate with `pytest --update-goldens`). Only the
smoke tests at the end run the `dot` binary, on small programs.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import incept_dsl
from incept_dsl.backends.figure import dot as backend
from incept_dsl.backends.figure.dot import FigureOptions, figure, render
from incept_dsl.backends.figure.labels import LABELS, instance_title, op_label
from incept_dsl.backends.figure.style import OKABE_ITO, THEMES
from incept_dsl.cli import main
from incept_dsl.errors import UsageError
from incept_dsl.ir.ops import OPS
from incept_dsl.resources import bundled_architectures

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "dot"
HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz `dot` is not installed")

# A sequential stem with conv+bn+act, a block with labelled branches, an aux head, a repeat.
SMALL = """
block mixed(c) = concat {
    one: conv(c, 1)
    three: conv(c, 1) -> conv(c, 3)
    pool: maxpool(3, stride = 1) -> conv(c, 1)
}

model small(classes = 10) {
    input image: 3x32x32
    defaults conv(bn = true, act = relu)
    x = image -> conv(16, 3, stride = 2) -> maxpool(2, padding = valid)
        -> mixed(8) as mixed_3a -> mixed(16) as mixed_3b
    aux side = x -> avgpool(global) -> flatten -> linear(classes) weight 0.3
    output logits = x -> repeat(2) { conv(48, 3) } -> avgpool(global) -> flatten
        -> dropout(0.2) -> linear(classes)
}
"""

# A scaled residual block (the Inception-ResNet shape), repeated; a nested concat; dropout(0).
RESIDUAL = """
block res(scale = 0.2) = residual(scale = scale) {
    concat {
        conv(8, 1)
        conv(8, 1) -> concat { conv(8, 1x3); conv(8, 3x1) }
    } -> conv(16, 1, act = none)
} -> relu

model resnetish {
    input x: 16x8x8
    defaults conv(act = relu)
    output y = x -> repeat(3) { res } -> res(scale = 1.0) as last -> avgpool(global)
        -> flatten -> dropout(0) -> linear(4, act = gelu)
}
"""

GOLDEN_CASES = {
    # file name: (program, options)
    "small_network.dot": (SMALL, {}),
    "small_expand.dot": (SMALL, {"expand": True}),
    "small_block_mixed.dot": (SMALL, {"block": "mixed"}),
    "small_grayscale_lr_noshapes.dot": (
        SMALL,
        {"theme": "grayscale", "rankdir": "LR", "shapes": False, "font": "Times"},
    ),
    "residual_network.dot": (RESIDUAL, {}),
    "residual_block.dot": (RESIDUAL, {"block": "repeat_1.0.res_1"}),
    "residual_depth2.dot": (RESIDUAL, {"depth": 2}),
    "googlenet_network.dot": ("googlenet", {}),
}


def _load(program: str):
    if program == "googlenet":
        return incept_dsl.load("googlenet.incept", model="googlenet")
    return incept_dsl.loads(program, name="test.incept")


def _nodes(dot: str) -> dict[str, str]:
    """{node id: its attribute text} of the node statements of DOT text."""
    out = {}
    for m in re.finditer(r'^\t+("[^"]+"|\w+) \[(.*)\]$', dot, re.M):
        if m[1] not in ("graph", "node", "edge"):
            out[m[1].strip('"')] = m[2]
    return out


def _edges(dot: str) -> list[tuple[str, str]]:
    return [
        (a.strip('"'), b.strip('"'))
        for a, b in re.findall(r'^\t+("[^"]+"|\w+) -> ("[^"]+"|\w+)', dot, re.M)
    ]


# ---- goldens and determinism --------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_golden(case, update_goldens):
    program, options = GOLDEN_CASES[case]
    text = _load(program).to_dot(**options)
    path = GOLDEN / case
    if update_goldens:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{case} changed (--update-goldens)"


@pytest.mark.parametrize("options", [{}, {"expand": True}, {"block": "mixed"}])
def test_dot_is_deterministic(options):
    assert _load(SMALL).to_dot(**options) == _load(SMALL).to_dot(**options)


def test_model_to_dot_delegates():
    m = _load(SMALL)
    assert m.to_dot(expand=True) == m.to_dot(expand=True)


# ---- the network view ---------------------------------------------------------------------------
def test_googlenet_network_view_is_collapsed_to_between_10_and_45_nodes():
    dot = _load("googlenet").to_dot()
    nodes = _nodes(dot)
    assert 10 <= len(nodes) <= 45, len(nodes)
    assert "inception_3a<BR/>" in nodes["inception_3a"]  # names as written
    assert "256×28×28" in nodes["inception_3a"]
    assert "subgraph" not in dot  # no clusters: every block is one box
    for aux in ("aux1", "aux2"):  # aux heads hang off as dashed side branches
        assert "aux, weight 0.3" in nodes[f"output@{aux}"]
    assert "dashed" in nodes["aux_head_1"] and "dashed" not in nodes["inception_4a"]
    assert re.search(r'aux_head_1 -> "output@aux1" \[.*style=dashed', dot)
    assert ("inception_4a", "aux_head_1") in _edges(dot)
    assert ("inception_4a", "inception_4b") in _edges(dot)
    assert "7×7 Conv, 64 /2" in nodes["conv_1"] and "LocalRespNorm" in nodes["lrn_1"]


def test_network_view_collapses_repeats_and_shows_stem_and_head_ops():
    nodes = _nodes(_load(SMALL).to_dot())
    assert "3×3 Conv, 48 ×2" in nodes["repeat_1"]
    assert "mixed_3a<BR/>" in nodes["mixed_3a"]
    assert "3×3 Conv, 16 /2" in nodes["conv_1"]
    assert "2×2 MaxPool /2<" in nodes["maxpool_1"]  # valid = same for 2×2
    assert "Dropout 0.2" in nodes["dropout_1"] and "FC, 10" in nodes["linear_1"]
    v4 = _nodes(_load(RESIDUAL).to_dot())
    assert "res ×3" in v4["repeat_1"]


def test_aux_heads_can_be_left_out():
    nodes = _nodes(_load(SMALL).to_dot(aux=False))
    assert "output@side" not in nodes and "output@logits" in nodes
    assert "linear_1" not in nodes and "linear_2" in nodes  # the aux head's FC is linear_1


# ---- expanded views -----------------------------------------------------------------------------
def test_expand_draws_every_op_with_blocks_as_labelled_clusters():
    dot = _load(SMALL).to_dot(expand=True)
    assert "subgraph cluster_mixed_3a {" in dot and "label=mixed_3a" in dot
    nodes = _nodes(dot)
    assert "mixed_3a.three.conv_2" in nodes and "repeat_1.1.conv_1" in nodes
    assert "repeat_1" not in nodes
    # branches in source order: the fork's arrows are written in order, with ordering=out
    assert "ordering=out" in dot
    fork = [b for a, b in _edges(dot) if a == "maxpool_1"]
    assert fork == ["mixed_3a.one.conv_1", "mixed_3a.three.conv_1", "mixed_3a.pool.maxpool_1"]


def test_depth_opens_outer_blocks_only():
    dot = _load(RESIDUAL).to_dot(depth=2)
    nodes = _nodes(dot)
    assert {"repeat_1.0.res_1", "repeat_1.1.res_1", "repeat_1.2.res_1"} <= set(nodes)
    assert "last.add_1" in nodes  # `last` is a top-level block: opened at depth 2
    assert _load(RESIDUAL).to_dot(depth=1) == _load(RESIDUAL).to_dot()
    assert _load(RESIDUAL).to_dot(collapse=True) == _load(RESIDUAL).to_dot()


def test_one_op_blocks_are_drawn_as_their_op_and_named_repeats_keep_their_name():
    m = _load("""
    block cbr(c) = conv(c, 3, bn = true, act = relu)
    block pair(c) = cbr(c) -> cbr(c)
    model m { input x: 3x16x16
        output y = x -> cbr(8) -> repeat(2) { cbr(8) } as layer1 -> pair(8) }
    """)
    dot = m.to_dot(expand=True)
    assert "cluster_cbr" not in dot and "cluster_pair_1" in dot
    assert "3×3 Conv, 8" in _nodes(dot)["cbr_1.conv_1"]
    nodes = _nodes(m.to_dot())
    assert "layer1 · 3×3 Conv, 8 ×2" in nodes["layer1"]
    assert "3×3 Conv, 8<" in nodes["cbr_1.conv_1"]  # a one-op block is its op, also when collapsed
    assert "pair<" in nodes["pair_1"]


def test_fused_units_are_named_by_their_shared_scope():
    from incept_dsl.backends.figure.structure import fuse_units

    m = _load(
        "model m { input x: 3x8x8\n output y = x -> conv(8, 3, act = relu) as conv "
        "-> conv(8, 3, bn = true, act = relu) as c2 -> flatten -> linear(4, act = relu) }"
    )
    units = [(u.scope, [m.graph.op(n) for n in u.nodes]) for u in fuse_units(m.graph)]
    assert units == [
        ("x", ["input"]),
        ("conv", ["conv", "relu"]),
        ("c2", ["conv", "batchnorm", "relu"]),
        ("flatten_1", ["flatten"]),
        ("linear_1", ["linear", "relu"]),
    ]


def test_the_v2_activations_fuse_into_their_layer_and_are_coloured_as_activations():
    from incept_dsl.backends.figure.structure import fuse_units

    m = _load(
        "model m { input x: 3x8x8\n defaults leaky_relu(slope = 0.2)\n"
        " output y = x -> conv(8, 3, act = hardswish) -> conv(8, 3, bn = true, act = leaky_relu)"
        " -> conv(8, 1, act = hardsigmoid) -> leaky_relu(slope = 0.05) -> flatten"
        " -> linear(4, act = leaky_relu) -> hardswish }"
    )
    units = [(u.scope, [m.graph.op(n) for n in u.nodes]) for u in fuse_units(m.graph)]
    assert units == [
        ("x", ["input"]),
        ("conv_1", ["conv", "hardswish"]),
        ("conv_2", ["conv", "batchnorm", "leaky_relu"]),
        ("conv_3", ["conv", "hardsigmoid"]),
        ("leaky_relu_1", ["leaky_relu"]),
        ("flatten_1", ["flatten"]),
        ("linear_1", ["linear", "leaky_relu"]),
        ("hardswish_1", ["hardswish"]),
    ]
    nodes = _nodes(m.to_dot(expand=True))
    assert "3×3 Conv, 8, Hardswish" in nodes["conv_1"]
    assert "3×3 Conv, 8, LeakyReLU 0.2" in nodes["conv_2"]
    assert "1×1 Conv, 8, Hardsigmoid" in nodes["conv_3"]
    assert "FC, 4, LeakyReLU 0.2" in nodes["linear_1"]
    act = THEMES["default"].fill["act"]
    for name, label in [("leaky_relu_1", "LeakyReLU 0.05"), ("hardswish_1", "Hardswish")]:
        assert label in nodes[name] and f'fillcolor="{act}"' in nodes[name], nodes[name]


def test_opt_level_draws_the_optimised_graph():
    dot = _load("googlenet").to_dot(block="inception", opt_level=1)
    nodes = _nodes(dot)
    assert "1×1 Conv, 176" in nodes["inception_3a.merged_1"]  # 64 + 96 + 16 merged, its ReLU
    assert sum("Slice [" in v for v in nodes.values()) == 3
    with pytest.raises(UsageError, match="opt_level"):
        _load(SMALL).to_dot(opt_level=3)


# ---- the block view -----------------------------------------------------------------------------
def test_block_view_draws_the_first_instance_bottom_to_top():
    dot = _load(SMALL).to_dot(block="mixed")
    nodes = _nodes(dot)
    assert "rankdir=BT" in dot
    assert "Previous layer" in nodes["input@1"] and "16×8×8" in nodes["input@1"]
    assert "Concat<BR/>" in nodes["mixed_3a.concat_1"]  # not GoogLeNet: "Concat"
    assert all(k.startswith(("mixed_3a.", "input@")) for k in nodes)
    assert "1×1 Conv, 8" in nodes["mixed_3a.one.conv_1"]
    assert "3×3 MaxPool" in nodes["mixed_3a.pool.maxpool_1"]
    # an instance can be chosen by its scope
    assert "mixed_3b.concat_1" in _nodes(_load(SMALL).to_dot(block="mixed_3b"))


def test_block_view_residual_sum_on_top_and_nested_concat_flattened():
    with pytest.raises(
        UsageError, match=r"(?s)2 different forms.*--block repeat_1\.0\.res_1.*--block last"
    ):
        _load(RESIDUAL).to_dot(block="res")  # scale 0.2 has a scale op, scale 1.0 has none
    dot = _load(RESIDUAL).to_dot(block="repeat_1.0.res_1")
    nodes = _nodes(dot)
    concats = [k for k, v in nodes.items() if "Concat" in v]
    assert concats == ["repeat_1.0.res_1.concat_1"]  # the inner 1×3/3×1 concat is merged
    assert "× 0.2" in nodes["repeat_1.0.res_1.scale_1"]
    assert 'label="+"' in nodes["repeat_1.0.res_1.add_1"]
    assert "1×1 Conv, 16 (no act.)" in nodes["repeat_1.0.res_1.conv_1"]
    edges = _edges(dot)
    assert ("input@1", "repeat_1.0.res_1.add_1") in edges  # the identity shortcut
    assert ("repeat_1.0.res_1.add_1", "repeat_1.0.res_1.relu_1") in edges


SE = """
block se(ratio = 4) = mul {
    identity
    avgpool(global) -> conv(make_divisible(in_channels / ratio), 1, act = relu)
                    -> conv(in_channels, 1, act = hardsigmoid)
}
model senet {
    input x: 3x16x16
    output y = x -> conv(32, 3) -> se -> conv(16, 1) -> se -> avgpool(global) -> flatten
}
"""


def test_block_view_draws_se_gating_as_the_gate_meeting_the_main_path_at_a_product():
    dot = _load(SE).to_dot(block="se")
    nodes = _nodes(dot)
    product = nodes["se_1.mul_1"]
    assert 'label="×"' in product and "shape=circle" in product
    assert f'fillcolor="{THEMES["default"].fill["join"]}"' in product
    assert "32×16×16" in product  # the product's shape, beside the circle
    assert "1×1 Conv, 32, Hardsigmoid" in nodes["se_1.branch_2.conv_2"]
    edges = _edges(dot)
    assert ("input@1", "se_1.mul_1") in edges  # the identity branch: the main path
    assert ("se_1.branch_2.conv_2", "se_1.mul_1") in edges  # the gate
    assert ("input@1", "se_1.branch_2.avgpool_1") in edges
    expanded = _nodes(_load(SE).to_dot(expand=True))
    assert [k for k, v in expanded.items() if 'label="×"' in v] == ["se_1.mul_1", "se_2.mul_1"]


def test_block_view_of_an_aux_head_is_not_dashed():
    dot = _load("googlenet").to_dot(block="aux_head")
    assert "dashed" not in dot and "5×5 AvgPool /3 V" in dot


def test_unknown_block_is_a_usage_error_listing_the_blocks():
    with pytest.raises(UsageError, match=r"no block 'mixd'.*mixed.*did you mean 'mixed'"):
        _load(SMALL).to_dot(block="mixd")


# ---- labels and themes --------------------------------------------------------------------------
def test_every_ir_op_has_a_label():
    assert set(LABELS) == set(OPS)


@pytest.mark.parametrize(
    ("op", "attrs", "label"),
    [
        (
            "conv",
            dict(
                in_channels=3,
                out_channels=64,
                kernel=(1, 1),
                stride=(1, 1),
                padding=(0, 0),
                dilation=(1, 1),
                groups=1,
                bias=True,
            ),
            "1×1 Conv, 64",
        ),
        (
            "conv",
            dict(
                in_channels=3,
                out_channels=192,
                kernel=(3, 3),
                stride=(2, 2),
                padding=(0, 0),
                dilation=(1, 1),
                groups=1,
                bias=True,
            ),
            "3×3 Conv, 192 /2 V",
        ),
        (
            "conv",
            dict(
                in_channels=8,
                out_channels=8,
                kernel=(1, 7),
                stride=(1, 1),
                padding=(0, 3),
                dilation=(1, 1),
                groups=8,
                bias=True,
            ),
            "1×7 Conv, 8, groups 8",
        ),
        (
            "conv",
            dict(
                in_channels=8,
                out_channels=8,
                kernel=(3, 3),
                stride=(1, 1),
                padding=(2, 2),
                dilation=(2, 2),
                groups=1,
                bias=True,
            ),
            "3×3 Conv, 8, dilation 2",
        ),
        (
            "maxpool",
            dict(kernel=(3, 3), stride=(2, 2), padding=(0, 0), ceil=False),
            "3×3 MaxPool /2 V",
        ),
        (
            "avgpool",
            dict(kernel=(3, 3), stride=(1, 1), padding=(1, 1), ceil=False, count_include_pad=False),
            "3×3 AvgPool",
        ),
        (
            "maxpool",
            dict(kernel=(3, 3), stride=(2, 2), padding=(1, 0), ceil=False),
            "3×3 MaxPool /2 pad 1×0",
        ),
        ("linear", dict(in_features=9, out_features=1000, bias=True), "FC, 1000"),
        ("dropout", dict(p=0.4), "Dropout 0.4"),
        ("adaptive_avgpool", dict(size=(6, 6)), "Adaptive AvgPool 6"),
        ("hardswish", {}, "Hardswish"),
        ("hardsigmoid", {}, "Hardsigmoid"),
        ("leaky_relu", dict(slope=0.01), "LeakyReLU 0.01"),
        ("leaky_relu", dict(slope=-0.25), "LeakyReLU -0.25"),
        ("mul", {}, "×"),
    ],
)
def test_op_labels_follow_the_papers(op, attrs, label):
    assert op_label(op, attrs) == label


@pytest.mark.parametrize(
    ("instance", "block", "title"),
    [
        ("inception_3a", "inception", "inception_3a"),
        ("inception_2", "inception", "inception"),
        ("inception4e", "inception_tv", "inception4e"),
        ("block8", "block8", "block8"),
        ("enc1", "double_conv", "enc1 · double_conv"),
        ("aspp", "aspp", "aspp"),
        ("Mixed_6b", "inception_c", "Mixed_6b · inception_c"),
    ],
)
def test_instance_titles_show_names_as_written(instance, block, title):
    assert instance_title(instance, block) == title


def _fills(dot: str) -> set[str]:
    return set(re.findall(r'fillcolor="(#[0-9A-F]{6})"', dot))


def test_default_theme_tints_okabe_ito_per_family_and_grayscale_has_no_colour():
    m = _load(SMALL)
    colour = _fills(m.to_dot(expand=True))
    assert len(colour) >= 5  # conv, pool, norm-free families: pool, linear, join, other, io ...
    palette = THEMES["default"]
    assert palette.fill["conv"] != palette.fill["pool"] != palette.fill["linear"]
    assert palette.border["conv"].startswith("#") and OKABE_ITO["sky_blue"] == "#56B4E9"
    gray = _fills(m.to_dot(expand=True, theme="grayscale"))
    assert all(c[1:3] == c[3:5] == c[5:7] for c in gray), gray


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"theme": "neon"}, "theme must be one of"),
        ({"rankdir": "UP"}, "rankdir must be one of"),
        ({"depth": 0}, "depth must be"),
        ({"expand": True, "depth": 2}, "choose one of"),
        ({"colour": "red"}, "no option 'colour'"),
        ({"font": 'a"b'}, "not a font name"),
    ],
)
def test_bad_options_are_usage_errors(options, message):
    with pytest.raises(UsageError, match=message):
        _load(SMALL).to_dot(**options)


def test_every_shipped_architecture_draws_in_every_view():
    """DOT only (no rendering): the network, depth 2 and every block's view."""
    for path in bundled_architectures():
        for m in incept_dsl.load_all(path):
            fig = figure(m.graph, FigureOptions())
            assert len(fig.items) <= 60, (m.name, len(fig.items))
            m.to_dot(depth=2)
            for block in sorted(set(m.graph.data.get("blocks", {}).values())):
                try:
                    dots = [m.to_dot(block=block)]
                except UsageError as err:  # segmentation's expect_map: only an `expect`
                    scopes = re.findall(r"--block (\S+):", str(err))
                    if not scopes:  # not a block of several forms: one that adds no layer
                        assert "adds no layer to draw" in str(err), str(err)
                        continue
                    dots = [m.to_dot(block=scope) for scope in scopes]
                assert all("rankdir=BT" in dot for dot in dots)


def test_a_block_without_layers_is_named_as_such():
    m = incept_dsl.loads(
        "block check(c) = expect((c, 4, 4))\nmodel m {\n    input x: 3x4x4\n"
        "    output y = x -> check(3) -> conv(2, 1)\n}\n",
        name="m.incept",
    )
    with pytest.raises(UsageError, match="block 'check' adds no layer to draw"):
        m.to_dot(block="check")
    with pytest.raises(UsageError, match="no block 'chek' is applied"):
        m.to_dot(block="chek")


# ---- rendering (needs the `dot` binary) ---------------------------------------------------------
@needs_dot
def test_svg_and_pdf_are_byte_identical_across_runs(tmp_path):
    m = _load(SMALL)
    for fmt in ("svg", "pdf"):
        a = render(m.to_dot(expand=True), fmt)
        b = render(_load(SMALL).to_dot(expand=True), fmt)
        assert a == b, fmt
    assert b.startswith(b"%PDF") and b"/CreationDate (D:19700101000000" in b


@needs_dot
def test_png_smoke(tmp_path):
    out = tmp_path / "fig.png"
    backend.write_figure(_load(SMALL).graph, out, FigureOptions(block="mixed"))
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert 200 < width < 3000 and 200 < height < 3000


def test_missing_dot_binary_is_a_usage_error_with_install_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no `dot` on PATH
    with pytest.raises(UsageError, match=r"apt-get install graphviz"):
        render(_load(SMALL).to_dot(), "svg")


# ---- command line -------------------------------------------------------------------------------
def _program(tmp_path: Path, text: str = SMALL) -> str:
    path = tmp_path / "small.incept"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_cli_missing_dot_exits_2_without_traceback(tmp_path, monkeypatch, capsys):
    src = _program(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert main(["render", src, "-o", str(tmp_path / "fig.svg")]) == 2
    err = capsys.readouterr().err
    assert "apt-get install graphviz" in err and "Traceback" not in err
    # DOT output needs no binary
    assert main(["render", src, "-o", str(tmp_path / "fig.dot"), "--block", "mixed"]) == 0


def test_cli_render_and_compile_write_the_same_dot(tmp_path, capsys):
    src = _program(tmp_path)
    a, b = tmp_path / "a.dot", tmp_path / "b.dot"
    assert (
        main(
            [
                "render",
                src,
                "-o",
                str(a),
                "--expand",
                "--theme",
                "grayscale",
                "--no-shapes",
                "--rankdir",
                "LR",
                "--font",
                "Times",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "compile",
                src,
                "--to",
                "dot",
                "-o",
                str(b),
                "--expand",
                "--theme",
                "grayscale",
                "--no-shapes",
                "--rankdir",
                "LR",
                "--font",
                "Times",
            ]
        )
        == 0
    )
    assert a.read_text() == b.read_text()
    assert a.read_text() == incept_dsl.load(src).to_dot(
        expand=True,
        theme="grayscale",
        shapes=False,
        rankdir="LR",
        font="Times",
    )
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-o", "fig.jpg"], "cannot tell the figure format"),
        (["-o", "fig.svg", "--block", "nope"], "no block 'nope'"),
        (["-o", "fig.svg", "--depth", "0"], "depth must be"),
    ],
)
def test_cli_usage_errors_exit_2(tmp_path, capsys, argv, message):
    src = _program(tmp_path)
    argv = [a if not a.startswith("fig.") else str(tmp_path / a) for a in argv]
    assert main(["render", src, *argv]) == 2
    assert message in capsys.readouterr().err


def test_cli_program_error_exits_1(tmp_path, capsys):
    src = _program(tmp_path, "model m { input x: 3x8x8\n output y = x -> covn(8, 3) }")
    assert main(["render", src, "-o", str(tmp_path / "fig.dot")]) == 1
    assert "did you mean 'conv'" in capsys.readouterr().err


# ---- scaling and Graphviz failures --------------------------------------------------------------
def _wide_concat(branches: int) -> str:
    body = "\n".join(["conv(1, 1) -> relu"] * branches)
    return f"model m {{ input x: 3x8x8\n output y = x -> concat {{\n{body}\n}} }}"


def _figure_work(model, **options) -> int:
    """Python function calls (and generator resumptions) made by drawing `model` as DOT text: a
    count of work that does not depend on the machine's speed."""
    import sys

    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        if event == "call":
            calls += 1

    sys.setprofile(count)
    try:
        model.to_dot(**options)
    finally:
        sys.setprofile(None)
    return calls


@pytest.mark.parametrize("options", [{"expand": True}, {}])
def test_figure_work_is_linear_in_a_concat_s_branch_count(options):
    """A concat of n branches all reading one tensor: asking each reader for the tensor's sorted
    readers made the figure quadratic (3,000 branches took 18 s before `dot` even started)."""
    small, large = _load(_wide_concat(150)), _load(_wide_concat(600))
    ratio = _figure_work(large, **options) / _figure_work(small, **options)
    assert ratio < 6, ratio  # linear: about 4 (n log n a little more); quadratic: about 16


def test_font_name_length_is_bounded():
    m = _load(SMALL)
    assert "fontname=" + "F" * 200 in m.to_dot(font="F" * 200)
    with pytest.raises(UsageError, match=r"is 17000 characters long \(at most 200\)"):
        m.to_dot(font="A" * 17000)


def _fake_dot(tmp_path: Path, script: str) -> None:
    exe = tmp_path / "dot"
    exe.write_text("#!/bin/sh\n" + script + "\n", encoding="utf-8")
    exe.chmod(0o755)


def test_render_past_its_timeout_is_a_usage_error(tmp_path, monkeypatch):
    _fake_dot(tmp_path, f"exec {shutil.which('sleep')} 60")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UsageError, match=r"too large for Graphviz's layout.*--depth"):
        render(_load(SMALL).to_dot(), "svg", timeout=0.5)


def test_graphviz_rejecting_the_figure_is_a_usage_error_quoting_it(tmp_path, monkeypatch, capsys):
    _fake_dot(
        tmp_path,
        f"{shutil.which('cat')} >/dev/null; echo 'Error: syntax error in line 2' >&2; exit 1",
    )
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(UsageError, match=r"could not lay out the figure: Error: syntax error in"):
        render(_load(SMALL).to_dot(), "svg")
    assert main(["render", _program(tmp_path), "-o", str(tmp_path / "fig.svg")]) == 2
    err = capsys.readouterr().err
    assert "syntax error in line 2" in err and "internal" not in err.lower()


@needs_dot
def test_cli_over_long_font_and_model_name_never_reach_graphviz(tmp_path, capsys):
    src = _program(tmp_path)
    out = str(tmp_path / "fig.svg")
    assert main(["render", src, "-o", out, "--font", "A" * 17000]) == 2
    assert "at most 200" in capsys.readouterr().err
    long_name = _program(tmp_path, "model " + "M" * 20000 + " { input x: 3x8x8\n output y = x }")
    assert main(["render", long_name, "-o", out]) == 1
    assert "at most 256 characters" in capsys.readouterr().err
