"""Elaboration: one small program per construct of LANGUAGE.md, shapes and names asserted."""

from __future__ import annotations

import pytest
from helpers import model, shapes

import incept_dsl
from incept_dsl.errors import InceptError, UsageError


def _out(m, name: str | None = None):
    outs = m.outputs
    return outs[name] if name else next(iter(outs.values()))


# ---- section 1: lexical ------------------------------------------------------------------------
def test_comments_semicolons_and_newlines_are_whitespace():
    m = model("# a comment\nmodel m { input x: 3x8x8; output y = x -> relu  # trailing\n }")
    assert _out(m) == (3, 8, 8)


def test_numbers_shapes_kernel_literals_and_tuples():
    m = model("""model m(k = 3) {
        input x: 3x32x32
        a = x -> conv(8, 1x7) -> expect(8x32x32)
        b = a -> conv(8, (k, 1)) -> expect(8x32x32)
        c = b -> dropout(0.25) -> bn(eps = 1e-3) -> expect(8x32x32)
        output y = c
    }""")
    g = m.graph
    assert g.attrs(g.by_scope("conv_1"))["kernel"] == (1, 7)
    assert g.attrs(g.by_scope("conv_1"))["padding"] == (0, 3)
    assert g.attrs(g.by_scope("conv_2"))["kernel"] == (3, 1)
    assert g.attrs(g.by_scope("batchnorm_1"))["eps"] == pytest.approx(1e-3)


@pytest.mark.parametrize(
    ("expr", "channels"),
    [
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("17 // 5", 3),
        ("17 % 5", 2),
        ("min(8, 4)", 4),
        ("max(8, 4)", 8),
        ("int(32 * 0.75)", 24),
        ("round(2.6)", 3),
        ("64 / 2", 32),
        ("-(-6)", 6),
    ],
)
def test_arithmetic(expr, channels):
    m = model(f"model m {{ input x: 3x4x4\n output y = x -> conv({expr}, 1) }}")
    assert _out(m) == (channels, 4, 4)


def test_channel_count_must_be_whole():
    with pytest.raises(InceptError, match="whole number") as e:
        model("model m { input x: 3x4x4\n output y = x -> conv(9 / 2, 1) }")
    assert "//" in (e.value.hint or "")
    assert (e.value.line, e.value.column) == (2, 23)


# ---- section 2: files --------------------------------------------------------------------------
def test_file_level_blocks_imports_and_model_parameters(tmp_path):
    (tmp_path / "blocks").mkdir()
    (tmp_path / "blocks" / "lib.incept").write_text(
        "block conv_bn(c, k = 3, stride = 1) = conv(c, k, stride = stride, bn = true)\n"
    )
    main = tmp_path / "main.incept"
    main.write_text("""import "blocks/lib.incept"
model tiny(classes = 10, width = 1.0) {
    input image: 3x32x32
    features = image -> conv_bn(int(32 * width)) -> maxpool(2) -> conv_bn(int(64 * width))
    output logits = features -> avgpool(global) -> flatten -> linear(classes)
}
""")
    m = incept_dsl.load(main)
    assert m.outputs == {"logits": (10,)}
    assert shapes(m)["conv_bn_2.conv_1.conv"] == (64, 16, 16)
    m2 = incept_dsl.load(main, params={"classes": 100, "width": 0.5})
    assert m2.outputs == {"logits": (100,)}
    assert shapes(m2)["conv_bn_2.conv_1.conv"] == (32, 16, 16)
    m3 = incept_dsl.load(main, params={"classes": "7"})  # source text, as from --set
    assert m3.outputs == {"logits": (7,)}


def test_import_cycle_is_located(tmp_path):
    (tmp_path / "a.incept").write_text('import "b.incept"\nblock a1 = relu\n')
    (tmp_path / "b.incept").write_text('import "a.incept"\nblock b1 = relu\n')
    with pytest.raises(InceptError, match="import cycle") as e:
        incept_dsl.load(tmp_path / "a.incept")
    assert e.value.span is not None


def test_several_models_need_a_choice():
    text = "model a { input x: 3x4x4\n output y = x }\nmodel b { input x: 3x4x4\n output y = x }"
    with pytest.raises(UsageError, match="a, b"):
        incept_dsl.loads(text)
    assert incept_dsl.loads(text, model="b").name == "b"


def test_unknown_parameter_override_suggests():
    with pytest.raises(UsageError, match="did you mean 'classes'"):
        model(
            "model m(classes = 3) { input x: 3\n output y = x -> linear(classes) }",
            params={"clases": 4},
        )


# ---- section 3: statements ---------------------------------------------------------------------
def test_several_inputs_and_outputs_in_order():
    m = model("""model two {
        input a: 3x8x8
        input b: 5x8x8
        j = concat(a, b)
        output first = j -> conv(4, 1)
        output second = b -> avgpool(global) -> flatten
    }""")
    assert list(m.inputs) == ["a", "b"]
    assert m.outputs == {"first": (4, 8, 8), "second": (5,)}


def test_aux_head_weight():
    m = model("""model m {
        input x: 3x8x8
        f = x -> conv(4, 3)
        aux side = f -> flatten -> linear(2) weight 0.3
        output y = f -> avgpool(global) -> flatten -> linear(2)
    }""")
    assert m.aux == {"side": ((2,), 0.3)}
    assert [h.kind for h in m.heads] == ["aux", "output"]


def test_defaults_apply_inside_inlined_blocks_and_explicit_args_win():
    text = """block inc(c) = concat { conv(c, 1); conv(c, 3, act = none) }
    model plain { input x: 3x8x8
        defaults conv(act = relu)
        output y = x -> inc(4) }
    model bn { input x: 3x8x8
        defaults conv(bn = true, act = relu, bias = false)
        defaults batchnorm(eps = 1e-3)
        output y = x -> inc(4) }"""
    plain = incept_dsl.loads(text, model="plain").graph
    bn = incept_dsl.loads(text, model="bn").graph
    assert [plain.op(n) for n in plain.order()] == ["input", "conv", "relu", "conv", "concat"]
    assert [bn.op(n) for n in bn.order()] == [
        "input",
        "conv",
        "batchnorm",
        "relu",
        "conv",
        "batchnorm",
        "concat",
    ]
    assert bn.attrs(bn.by_scope("inc_1.branch_1.conv_1.bn"))["eps"] == pytest.approx(1e-3)
    assert bn.attrs(bn.by_scope("inc_1.branch_1.conv_1.conv"))["bias"] is False


def test_second_defaults_for_an_op_is_an_error():
    with pytest.raises(InceptError, match="second `defaults`"):
        model(
            "model m { input x: 3x4x4\n defaults conv(act = relu)\n defaults conv(bn = true)\n"
            " output y = x }"
        )


def test_model_local_block_sees_model_parameters():
    m = model("""model m(w = 8) {
        input x: 3x8x8
        block stem(k = 3) = conv(w, k) -> relu
        output y = x -> stem -> stem(k = 1)
    }""")
    assert _out(m) == (8, 8, 8)


def test_names_are_single_assignment():
    with pytest.raises(InceptError, match="bound twice") as e:
        model("model m { input x: 3x4x4\n a = x\n a = x\n output y = a }")
    assert e.value.notes and e.value.notes[0].span.line == 2
    with pytest.raises(InceptError, match="used before it is bound"):
        model("model m { input x: 3x4x4\n a = b\n b = x\n output y = a }")


# ---- section 4: pipelines ----------------------------------------------------------------------
def test_concat_order_and_labels():
    m = model("""model m { input x: 16x8x8
        output y = x -> concat {
            conv(1, 1)
            wide: conv(2, 1) -> conv(3, 3)
            maxpool(3, stride = 1) -> conv(4, 1)
        } -> expect(8x8x8)
    }""")
    g = m.graph
    cat = g.by_scope("concat_1")
    assert [g.scope(i) for i in g.inputs(cat)] == [
        "branch_1.conv_1",
        "wide.conv_2",
        "branch_2.conv_1",
    ]


def test_add_block_and_shape_mismatch_names_branches():
    m = model("model m { input x: 8x8x8\n output y = x -> add { conv(8, 3); identity } }")
    assert _out(m) == (8, 8, 8)
    with pytest.raises(InceptError, match="add needs equal shapes") as e:
        model("model m { input x: 8x8x8\n output y = x -> add { conv(8, 3); conv(4, 1) } }")
    assert [n.message for n in e.value.notes] == [
        "branch 1 produced 8×8×8 here",
        "branch 2 produced 4×8×8 here",
    ]


def test_residual_with_scale():
    m = model("""model m { input x: 8x8x8
        output y = x -> residual(scale = 0.17) { conv(8, 3) -> relu } -> relu }""")
    g = m.graph
    ops = [g.op(n) for n in g.order()]
    assert ops == ["input", "conv", "relu", "scale", "add", "relu"]
    assert g.attrs(g.by_scope("scale_1"))["s"] == pytest.approx(0.17)
    plain = model("model m { input x: 8x8x8\n output y = x -> residual { conv(8, 3) } }")
    assert "scale" not in [plain.graph.op(n) for n in plain.graph.order()]


def test_residual_shape_mismatch():
    with pytest.raises(InceptError, match="keep the shape 8×8×8"):
        model("model m { input x: 8x8x8\n output y = x -> residual { conv(4, 3) } }")


def test_repeat_copies_have_own_scopes_and_zero_is_identity():
    m = model("model m { input x: 8x8x8\n output y = x -> repeat(3) { conv(8, 3) -> relu } }")
    assert [s for s in shapes(m) if s.endswith("conv_1")] == [
        "repeat_1.0.conv_1",
        "repeat_1.1.conv_1",
        "repeat_1.2.conv_1",
    ]
    z = model("model m { input x: 8x8x8\n output y = x -> repeat(0) { conv(4, 3) } }")
    assert _out(z) == (8, 8, 8)


def test_grouping_and_as_names_scopes():
    m = model("""model m { input x: 3x8x8
        output y = x -> (conv(4, 3) -> relu) as stem -> conv(2, 1) as head }""")
    assert set(shapes(m)) == {"x", "stem.conv_1", "stem.relu_1", "head"}


def test_expect_failure_is_located():
    with pytest.raises(InceptError, match="expected 4×8×8, the pipeline produces 4×4×4") as e:
        model(
            "model m { input x: 3x8x8\n output y = x -> conv(4, 3, stride = 2) -> expect(4x8x8) }"
        )
    assert e.value.line == 2


def test_joins_of_bound_tensors():
    m = model("""model m { input x: 3x8x8
        a = x -> conv(4, 1)
        b = x -> conv(6, 1)
        s = add(a, a)
        output y = concat(a, b, s) -> expect(14x8x8) }""")
    assert _out(m) == (14, 8, 8)


def test_op_valued_block_parameter():
    text = """block b(final = relu) = conv(4, 3) -> final
    model m { input x: 3x8x8
        output y = x -> b -> b(final = identity) -> b(final = sigmoid) }"""
    g = model(text).graph
    assert [g.op(n) for n in g.order()] == ["input", "conv", "relu", "conv", "conv", "sigmoid"]


# ---- section 5: ops ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("element", "shape"),
    [
        ("conv(8, 3)", (8, 32, 32)),
        ("conv(8, 3, stride = 2)", (8, 16, 16)),
        ("conv(8, 3, padding = valid)", (8, 30, 30)),
        ("conv(8, 3, dilation = 2)", (8, 32, 32)),
        ("conv(8, 5, padding = 1)", (8, 30, 30)),
        ("conv(8, 3, padding = (0, 1))", (8, 30, 32)),
        ("conv(8, 1, groups = 4)", (8, 32, 32)),
        ("maxpool(2)", (4, 16, 16)),
        ("maxpool(3, stride = 2)", (4, 16, 16)),
        ("maxpool(3, stride = 2, padding = valid)", (4, 15, 15)),
        ("maxpool(3, stride = 2, padding = valid, ceil = true)", (4, 16, 16)),
        ("avgpool(5, stride = 3, padding = valid)", (4, 10, 10)),
        ("avgpool(global)", (4, 1, 1)),
        ("adaptive_avgpool(6x6)", (4, 6, 6)),
        ("adaptive_avgpool(1)", (4, 1, 1)),
        ("batchnorm", (4, 32, 32)),
        ("bn(momentum = 0.01)", (4, 32, 32)),
        ("lrn", (4, 32, 32)),
        ("lrn(size = 3, alpha = 2e-5)", (4, 32, 32)),
        ("relu -> relu6 -> gelu -> silu -> sigmoid -> tanh -> identity", (4, 32, 32)),
        ("softmax", (4, 32, 32)),
        ("dropout(0.3)", (4, 32, 32)),
        ("flatten", (4096,)),
        ("flatten -> linear(10)", (10,)),
        ("flatten -> fc(10, act = relu)", (10,)),
        ("scale(0.5)", (4, 32, 32)),
    ],
)
def test_builtin_op_shapes(element, shape):
    m = model(f"model m {{ input x: 4x32x32\n output y = x -> {element} }}")
    assert _out(m) == shape


def test_conv_bias_auto_and_bn_order():
    g = model(
        "model m { input x: 3x8x8\n output y = x -> conv(4, 3, bn = true, act = relu) "
        "-> conv(4, 3) }"
    ).graph
    assert [(g.op(n), g.scope(n)) for n in g.order()][1:] == [
        ("conv", "conv_1.conv"),
        ("batchnorm", "conv_1.bn"),
        ("relu", "conv_1.relu"),
        ("conv", "conv_2"),
    ]
    assert g.attrs(g.by_scope("conv_1.conv"))["bias"] is False
    assert g.attrs(g.by_scope("conv_2"))["bias"] is True


def test_linear_on_image_suggests_flatten():
    with pytest.raises(InceptError, match="flat tensor") as e:
        model("model m { input x: 3x8x8\n output y = x -> linear(10) }")
    assert "flatten" in e.value.hint


def test_kernel_larger_than_input():
    with pytest.raises(InceptError, match="does not fit the 4×4 input"):
        model("model m { input x: 3x4x4\n output y = x -> conv(8, 7, padding = valid) }")


def test_unknown_op_did_you_mean():
    with pytest.raises(InceptError, match="unknown op or block 'covn'") as e:
        model("model m { input x: 3x4x4\n output y = x -> covn(8, 3) }")
    assert e.value.hint == "did you mean 'conv'?"
    assert (e.value.line, e.value.column) == (2, 18)


def test_unknown_keyword_did_you_mean():
    with pytest.raises(InceptError, match="no parameter 'strides'") as e:
        model("model m { input x: 3x4x4\n output y = x -> conv(8, 3, strides = 2) }")
    assert e.value.hint == "did you mean 'stride'?"


def test_recursive_block_is_an_error():
    with pytest.raises(InceptError, match="applies itself"):
        model("block a = relu -> a\nmodel m { input x: 3x4x4\n output y = x -> a }")


def test_model_without_output():
    with pytest.raises(InceptError, match="has no output"):
        model("model m { input x: 3x4x4\n y = x }")


# ---- section 6: names --------------------------------------------------------------------------
def test_hierarchical_names_from_scopes():
    m = model("""block inception(a, b) = concat {
        conv(a, 1)
        conv(b, 1) -> conv(b, 3)
    }
    model m { input x: 8x8x8
        defaults conv(act = relu)
        output y = x -> inception(2, 3) as inception_3a -> inception(2, 3) }""")
    s = shapes(m)
    assert "inception_3a.branch_2.conv_1" in s
    assert "inception_3a.branch_2.conv_2.relu" in s
    assert "inception_1.branch_1.conv_1" in s


def test_duplicate_as_name_is_an_error():
    with pytest.raises(InceptError, match="already used"):
        model("model m { input x: 3x4x4\n output y = x -> relu as r -> relu as r }")


def test_elaboration_is_deterministic():
    text = (
        "block b(c) = concat { conv(c, 1); conv(c, 3) }\n"
        "model m { input x: 3x8x8\n output y = x -> b(4) -> repeat(2) { b(4) } }"
    )
    a, b = model(text).graph, model(text).graph
    assert a.dump() == b.dump()
