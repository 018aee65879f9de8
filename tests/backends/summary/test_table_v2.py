"""Cost tables of the ops of language v2 (LANGUAGE.md section 11) and of token tensors L×D: counts
checked by hand for one attention, one transposed conv and one layer norm (and against PyTorch's
FLOP counter where it counts them), the layer and block views, every format, and the "Cost rules"
footer worded in the symbols of the tensors the table holds.

Golden tables: tests/golden/summary/v2_* (regenerate with `pytest --update-goldens`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import incept_dsl
from incept_dsl.backends.summary.rules import TOKEN_RULES, rule_text
from incept_dsl.backends.summary.table import CONVENTIONS, FORMATS, VIEWS
from incept_dsl.ir.ops import OPS

GOLDEN = Path(__file__).resolve().parents[3] / "tests" / "golden" / "summary"

# L = 5 tokens (a class token and 2×2 patches) of width D = 16
SMALL_VIT = """
block encoder(heads) = residual { layernorm -> attention(heads) }
    -> residual { layernorm -> linear(32, act = gelu) -> linear(in_channels) }

model sv(classes = 10) {
    input image: 3x8x8
    output logits = image -> conv(16, 4, stride = 4, padding = valid) -> tokens -> class_token
        -> pos_embedding -> encoder(2) -> layernorm -> select(0) -> linear(classes)
}
"""

UNET = """
model unetish {
    input x: 3x32x32
    output y = x -> conv(8, 3, bn = true, act = relu) -> slice(0, 4)
        -> conv_transpose(6, 2, stride = 2, bn = true, act = relu) -> layernorm -> conv(2, 1)
}
"""

GOLDEN_CASES = {
    "v2_small_vit_layers.txt": (SMALL_VIT, {}, "text"),
    "v2_small_vit_blocks.md": (SMALL_VIT, {"by": "block", "flops": True}, "markdown"),
    "v2_unet_layers.tex": (UNET, {}, "latex"),
}


def _load(program: str):
    return incept_dsl.loads(program, name="v2.incept")


def _rows(program: str) -> dict:
    return {r.name: r for r in _load(program).summary().layers}


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_golden(case: str, update_goldens: bool) -> None:
    program, options, fmt = GOLDEN_CASES[case]
    text = _load(program).summary(**options).render(fmt)
    assert text == _load(program).summary(**options).render(fmt)  # deterministic
    path = GOLDEN / case
    if update_goldens:
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{case} changed (--update-goldens)"


# ---- counts by hand -----------------------------------------------------------------------------
def test_attention_counts_by_hand() -> None:
    r = _rows(SMALL_VIT)["encoder_1.attention_1"]
    length, d = 5, 16
    assert r.input_shapes == ((length, d),) and r.output_shape == (length, d)
    # query, key, value and out projections: 4 · L · D²; scores and weighted sum: 2 · L² · D
    assert r.macs == 4 * 5 * 16 * 16 + 2 * 5 * 5 * 16 == 5_920
    # in_proj 3D×D + 3D, out_proj D×D + D
    assert r.params == 3 * 16 * 16 + 3 * 16 + 16 * 16 + 16 == 1_088 and r.buffers == 0
    assert r.memory_bytes == 5 * 16 * 4
    assert (r.kernel, r.stride, r.padding) == (None, None, None)


def test_transposed_conv_counts_by_hand() -> None:
    r = _rows(UNET)["conv_transpose_1.conv"]
    assert r.input_shapes == ((4, 32, 32),) and r.output_shape == (6, 64, 64)
    # a conv over the input positions: Cin·H·W · (Cout/groups)·kh·kw
    assert r.macs == 4 * 32 * 32 * 6 * 2 * 2 == 98_304
    assert r.params == 4 * 6 * 2 * 2  # weight (in, out/groups, kh, kw); no bias before a BN
    assert (r.kernel, r.stride, r.padding) == ((2, 2), (2, 2), (0, 0))


def test_layernorm_counts_by_hand_on_images_and_tokens() -> None:
    image = _rows(UNET)["layernorm_1"]
    assert image.macs == 6 * 64 * 64 and image.params == 2 * 6 and image.buffers == 0
    tokens = _rows(SMALL_VIT)["encoder_1.layernorm_1"]
    assert tokens.macs == 5 * 16 and tokens.params == 2 * 16


def test_token_ops_count_by_hand() -> None:
    r = _rows(SMALL_VIT)
    assert r["tokens_1"].output_shape == (4, 16) and r["tokens_1"].macs == 0
    assert r["class_token_1"].params == 16 and r["class_token_1"].output_shape == (5, 16)
    assert r["pos_embedding_1"].params == 5 * 16 and r["pos_embedding_1"].macs == 5 * 16
    assert r["select_1"].output_shape == (16,) and r["select_1"].view
    assert r["linear_1"].macs == 16 * 10  # on a flat tensor: in·out
    s = _load(SMALL_VIT).summary()
    assert s.total.memory_bytes == sum(x.memory_bytes for x in s.layers if not x.view)


def test_linear_on_tokens_counts_every_token() -> None:
    m = _load(
        "model m { input x: 8x4x4\n output y = x -> tokens -> linear(12) -> gelu -> linear(8) }"
    )
    r = {x.name: x for x in m.summary().layers}
    assert r["linear_1"].macs == 16 * 8 * 12 and r["linear_2"].macs == 16 * 12 * 8
    assert r["linear_1"].params == 8 * 12 + 12


def test_projections_agree_with_pytorch_s_flop_counter() -> None:
    """PyTorch's FLOP counter sees the convolutions and the matrix products of the linears and of
    attention's four projections (in training mode, which takes nn.MultiheadAttention's unfused
    path); the 2·L²·D of its scores and weighted sum are checked by hand above."""
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    m = _load(SMALL_VIT)
    s = m.summary()
    module = m.to_torch().train()
    with FlopCounterMode(display=False) as counter:
        module(torch.randn(2, 3, 8, 8))
    counted = {str(op): f for op, f in counter.get_flop_counts()["Global"].items()}
    products = sum(counted.get(op, 0) for op in ("aten.convolution", "aten.mm", "aten.addmm"))
    length, d = 5, 16
    heavy = sum(r.macs for r in s.layers if r.op in ("conv", "linear", "attention"))
    assert products == 2 * 2 * (heavy - 2 * length * length * d)  # FLOPs of a batch of 2
    assert sum(p.numel() for p in module.parameters()) == s.total.params


# ---- views and formats --------------------------------------------------------------------------
def test_block_view_names_and_counts_the_v2_layers() -> None:
    blocks = {b.name: b for b in _load(UNET).summary(by="block").blocks}
    up = blocks["conv_transpose_1"]
    assert (up.type, up.patch, up.depth) == ("transposed convolution", "2×2/2", 1)
    assert blocks["layernorm_1"].type == "layer norm"
    vit = {b.name: b for b in _load(SMALL_VIT).summary(by="block").blocks}
    assert vit["encoder_1"].depth == 3  # attention, then the two linears
    assert vit["class_token_1"].type == "class token"
    assert vit["pos_embedding_1"].type == "position embedding"
    assert vit["select_1"].type == "select token"


def test_every_view_and_format_renders_token_shapes() -> None:
    for by in VIEWS:
        s = _load(SMALL_VIT).summary(by=by, flops=True)
        for fmt in FORMATS:
            out = s.render(fmt)
            shape = "5x16" if fmt == "csv" else "5$\\times$16" if fmt == "latex" else "5×16"
            assert shape in out or fmt == "json", (by, fmt)
    latex = _load(SMALL_VIT).summary().to_latex()
    assert "D$^2$" in latex  # ² is spelled for pdflatex, not replaced by "?"
    assert "?" not in latex and not any(line.startswith("%") for line in latex.splitlines())
    data = json.loads(_load(SMALL_VIT).summary().to_json())
    assert data["layers"][1]["output_shape"] == [4, 16]


# ---- the footer: rules in the table's own symbols -----------------------------------------------
def test_rules_are_worded_for_tokens_where_the_table_holds_them() -> None:
    s = _load(SMALL_VIT).summary()
    assert s.rules["layernorm"] == "L·D (y = a·x + b per element)"
    assert s.rules["add"] == "(n-1)·L·D for n inputs"
    assert s.rules["gelu"] == OPS["gelu"].cost.formula  # 0 on any tensor
    assert s.rules["attention"] == OPS["attention"].cost.formula
    note = s.notes()[-2]
    assert note.endswith(
        "shapes exclude the batch dimension (token tensors are L×D: L tokens of width D)."
    )
    data = json.loads(s.to_json())["conventions"]
    assert data["shapes"].endswith("or L×D (L tokens of width D)") and data["rules"] == s.rules


def test_an_op_on_images_and_tokens_gives_both_wordings() -> None:
    s = _load(
        "model m { input x: 8x4x4\n output y = x -> layernorm -> tokens -> layernorm"
        " -> linear(4) -> select(0) -> linear(2) -> scale(2) }"
    ).summary()
    assert s.rules["layernorm"] == (
        "C·H·W (y = a·x + b per element), on tokens L·D (y = a·x + b per element)"
    )
    assert s.rules["linear"] == "in·out, on tokens L·in·out (in·out per token)"
    assert s.rules["scale"] == OPS["scale"].cost.formula  # on a flat tensor only
    footer = s.notes()[-1]
    assert footer.startswith("Cost rules: linear in·out, on tokens L·in·out (in·out per token); ")


def test_tables_without_tokens_word_the_rules_as_before() -> None:
    s = _load(UNET).summary()
    assert s.rules["layernorm"] == OPS["layernorm"].cost.formula
    assert not s.tokens
    assert json.loads(s.to_json())["conventions"]["shapes"] == CONVENTIONS["shapes"]
    assert s.notes()[-2].endswith("shapes exclude the batch dimension.")


@pytest.mark.parametrize("op", sorted(TOKEN_RULES))
def test_every_token_wording_is_of_an_op_that_runs_on_tokens(op: str) -> None:
    assert op in OPS and "L" in TOKEN_RULES[op]
    assert rule_text(op, []) == OPS[op].cost.formula or op == "linear"
