"""The v2 `mul` join (LANGUAGE.md section 10): `mul { B1 B2 ... }` and `mul(a, b, ...)`, the
element-wise product of the branches, where a C×1×1 branch (a gate) broadcasts over C×H×W.

Checked against the real thing: the module's outputs against PyTorch expressions written here on
the module's own weights, onnxruntime against PyTorch, -O1/-O2 against -O0, the generated file
against the module; shape errors located at the join with a note per branch; and `mul` still a
name wherever no `{` or `(` follows it at the start of an element."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import incept_dsl
from incept_dsl.errors import InceptError, InceptSyntaxError
from incept_dsl.frontend import ast
from incept_dsl.frontend.parser import parse
from incept_dsl.ir.ops import OPS, infer_shape, macs, param_count
from incept_dsl.ir.shapes import ShapeProblem

#: LANGUAGE.md section 12's squeeze-and-excitation block, applied twice, and a gate joined by name.
SE = """
block se(ratio = 4) = mul {
    identity
    avgpool(global) -> conv(make_divisible(in_channels / ratio), 1, act = relu)
                    -> conv(in_channels, 1, act = hardsigmoid)
}

model se_net {
    input image: 3x16x16
    x = image -> conv(24, 3, stride = 2) -> se -> conv(32, 3) -> se(ratio = 8)
    g = x -> avgpool(global) -> conv(32, 1, act = sigmoid)
    output y = mul(x, g) -> avgpool(global) -> flatten -> linear(5)
}
"""


def _x(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _randomized(net: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        gen = torch.Generator().manual_seed(1)
        for p in net.parameters():
            p.copy_(torch.rand(p.shape, generator=gen) - 0.5)
    return net.eval()


def _ops(m: incept_dsl.Model) -> list[tuple[str, str, tuple[int, ...]]]:
    g = m.graph
    return [(g.scope(n), g.op(n), g.shape(n)) for n in g.order() if g.op(n) != "input"]


# ---- the op table and the shape rule ------------------------------------------------------------
def test_the_op_table_entry() -> None:
    op = OPS["mul"]
    assert (op.arity, op.family, op.title, op.attrs) == (None, "join", "×", ())
    assert not op.weighted and param_count("mul", {}) == (0, 0)
    assert op.cost.formula.startswith("(n-1)·C·H·W")
    assert macs("mul", {}, [(16, 8, 8), (16, 1, 1)], (16, 8, 8)) == 16 * 8 * 8
    assert macs("mul", {}, [(16, 1, 1), (16, 8, 8), (16, 8, 8)], (16, 8, 8)) == 2 * 16 * 8 * 8
    assert macs("mul", {}, [(10,), (10,)], (10,)) == 10
    assert macs("mul", {}, [(4, 2, 2)], (4, 2, 2)) == 0


@pytest.mark.parametrize(
    ("ins", "out"),
    [
        ([(16, 8, 8), (16, 8, 8)], (16, 8, 8)),
        ([(16, 8, 8), (16, 1, 1)], (16, 8, 8)),
        ([(16, 1, 1), (16, 8, 8)], (16, 8, 8)),  # the gate may come first
        ([(16, 1, 1), (16, 8, 8), (16, 1, 1), (16, 8, 8)], (16, 8, 8)),
        ([(16, 1, 1), (16, 1, 1)], (16, 1, 1)),
        ([(7,), (7,), (7,)], (7,)),
        ([(3, 5, 5)], (3, 5, 5)),
    ],
)
def test_shape_rule(ins: list[tuple[int, ...]], out: tuple[int, ...]) -> None:
    assert infer_shape("mul", {}, ins) == out


@pytest.mark.parametrize(
    ("ins", "message", "hint"),
    [
        ([(16, 8, 8), (8, 1, 1)], "cannot broadcast 8×1×1 over 16×8×8", "(here 16×1×1)"),
        ([(4, 1, 1), (16, 8, 8)], "cannot broadcast 4×1×1 over 16×8×8", "same C"),
        ([(16, 8, 8), (16, 4, 4)], "equal shapes (or C×1×1 gates)", "only a C×1×1 gate"),
        ([(16, 8, 8), (1, 1, 1)], "the gate has 1 channels, the tensor 16", "C×1×1"),
        ([(16, 8, 8), (16, 8, 1)], "equal shapes", "only a C×1×1 gate"),
        ([(16, 8, 8), (16,)], "mixes image and flat tensors", "flat tensors F"),
        ([(16,), (8,)], "equal shapes", "only a C×1×1 gate"),
        ([(16, 1, 1), (8, 1, 1)], "cannot broadcast 8×1×1 over 16×1×1", "C×1×1"),
    ],
)
def test_shapes_that_do_not_broadcast(ins, message: str, hint: str) -> None:
    with pytest.raises(ShapeProblem) as info:
        infer_shape("mul", {}, ins)
    assert message in info.value.message and hint in (info.value.hint or "")


# ---- syntax: `mul` is a join word only before `{` and `(` --------------------------------------
def test_mul_parses_like_add_and_concat() -> None:
    prog = parse(
        "model m { input x: 3x4x4\n a = x -> mul { one: relu; two: sigmoid } as gate\n"
        " output y = mul(a, x, a,) -> relu }"
    )
    bind, out = prog.models[0].body[1:]
    named = bind.pipeline.elements[1]
    assert isinstance(named, ast.Named) and named.name == "gate"
    assert isinstance(named.element, ast.Branches) and named.element.kind == "mul"
    assert [b.label for b in named.element.branches] == ["one", "two"]
    join = out.pipeline.elements[0]
    assert isinstance(join, ast.Join) and join.kind == "mul"
    assert [n for n, _ in join.names] == ["a", "x", "a"]


NAMED_MUL = {
    "parameter": "model m(mul = 4) {{ input x: 3x8x8\n output y = x -> conv(mul, 1) -> {t} }}",
    "block parameter": "block b(mul) = conv(mul, 1)\n"
    "model m {{ input x: 3x8x8\n output y = x -> b(4) -> {t} }}",
    "bound tensor": "model m {{ input x: 3x8x8\n mul = x -> conv(4, 1)\n output y = mul -> {t} }}",
    "input": "model m {{ input mul: 3x8x8\n output y = mul -> conv(4, 1) -> {t} }}",
    "join argument": "model m {{ input x: 3x8x8\n mul = x -> conv(4, 1)\n"
    " output y = mul(mul, mul) -> {t} }}",
    "output": "model m {{ input x: 3x8x8\n output mul = x -> conv(4, 1) -> {t} }}",
    "as name": "model m {{ input x: 3x8x8\n output y = x -> conv(4, 1) as mul -> {t} }}",
    "branch label": "model m {{ input x: 3x8x8\n output y = x -> concat {{ mul: conv(2, 1);"
    " conv(2, 1) }} -> {t} }}",
    "label inside mul": "model m {{ input x: 3x8x8\n output y = x -> conv(4, 1) -> mul {{ mul: "
    "identity; identity }} -> {t} }}",
    "parameterless block": "block mul = conv(4, 1)\n"
    "model m {{ input x: 3x8x8\n output y = x -> mul -> concat {{ mul; relu -> mul }} -> {t} }}",
    "model": "model mul {{ input x: 3x8x8\n output y = x -> conv(4, 1) -> {t} }}",
}


@pytest.mark.parametrize("where", sorted(NAMED_MUL))
def test_mul_is_still_a_name_where_no_brace_or_parenthesis_follows(where: str) -> None:
    m = incept_dsl.loads(NAMED_MUL[where].format(t="avgpool(global) -> flatten"))
    assert list(m.outputs.values())[0][0] in (4, 8)


def test_mul_with_arguments_is_the_join_so_a_block_mul_cannot_take_any() -> None:
    text = "block mul(c) = conv(c, 1)\nmodel m { input x: 3x8x8\n output y = x -> mul(4) }"
    with pytest.raises(InceptSyntaxError) as info:
        incept_dsl.loads(text)
    err = info.value
    assert (err.span.line, err.span.column) == (3, 22)  # at the `4`
    assert "expected a name" in str(err) and "a block named `mul`" in (err.hint or "")


# ---- semantics: PyTorch expressions on the module's own weights ---------------------------------
def test_the_se_fragment_of_language_md_computes_x_times_its_gate() -> None:
    m = incept_dsl.loads(SE)
    ops = _ops(m)
    assert ("se_1.mul_1", "mul", (24, 8, 8)) in ops and ("se_2.mul_1", "mul", (32, 8, 8)) in ops
    assert ("se_1.branch_2.conv_1", "conv", (8, 1, 1)) in ops  # make_divisible(24 / 4) = 8
    assert ("se_2.branch_2.conv_2", "conv", (32, 1, 1)) in ops
    assert ("mul_1", "mul", (32, 8, 8)) in ops
    g = m.graph
    (se1,) = [n for n in g.nodes("mul") if g.scope(n) == "se_1.mul_1"]
    assert [g.shape(i) for i in g.inputs(se1)] == [(24, 8, 8), (24, 1, 1)]
    net = _randomized(m.to_torch())
    s = net.state_dict()
    x = _x(2, 3, 16, 16)

    def se(t: torch.Tensor, k: int) -> torch.Tensor:
        p = f"se_{k}.branch_2"
        z = F.adaptive_avg_pool2d(t, 1)
        z = F.relu(F.conv2d(z, s[f"{p}.conv_1.weight"], s[f"{p}.conv_1.bias"]))
        return t * F.hardsigmoid(F.conv2d(z, s[f"{p}.conv_2.weight"], s[f"{p}.conv_2.bias"]))

    with torch.no_grad():
        t = se(F.conv2d(x, s["conv_1.weight"], s["conv_1.bias"], stride=2, padding=1), 1)
        t = se(F.conv2d(t, s["conv_2.weight"], s["conv_2.bias"], padding=1), 2)
        gate = torch.sigmoid(
            F.conv2d(F.adaptive_avg_pool2d(t, 1), s["conv_3.weight"], s["conv_3.bias"])
        )
        want = F.linear(
            torch.flatten(F.adaptive_avg_pool2d(t * gate, 1), 1),
            s["linear_1.weight"],
            s["linear_1.bias"],
        )
        torch.testing.assert_close(net(x), want, rtol=1e-5, atol=1e-6)


JOINS = """
model j {
    input x: 6x5x5
    a = x -> conv(6, 3)
    g = x -> avgpool(global) -> sigmoid
    f = x -> flatten
    output img = mul(a, g, x)
    output flat = mul(f, f, f) -> linear(3)
    output one = x -> mul { relu }
}
"""


def test_joins_of_bound_tensors_three_inputs_a_gate_in_the_middle_and_flat_tensors() -> None:
    m = incept_dsl.loads(JOINS)
    assert m.outputs == {"img": (6, 5, 5), "flat": (3,), "one": (6, 5, 5)}
    net = _randomized(m.to_torch())
    s = net.state_dict()
    x = _x(3, 6, 5, 5)
    with torch.no_grad():
        img, flat, one = net(x)
        a = F.conv2d(x, s["conv_1.weight"], s["conv_1.bias"], padding=1)
        torch.testing.assert_close(img, a * torch.sigmoid(F.adaptive_avg_pool2d(x, 1)) * x)
        f = torch.flatten(x, 1)
        torch.testing.assert_close(
            flat, F.linear(f * f * f, s["linear_1.weight"], s["linear_1.bias"])
        )
        torch.testing.assert_close(one, F.relu(x))


def test_the_generated_file_multiplies_and_matches_the_module(tmp_path) -> None:
    m = incept_dsl.loads(SE)
    src = m.torch_source()
    assert "return x * branch_2  # <string>:" in src  # the SE block's class gates its input
    assert "x = x * x_2  # 32×8×8" in src
    path = tmp_path / "se_net_gen.py"
    path.write_text(src, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("se_net_gen", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["se_net_gen"] = mod
    spec.loader.exec_module(mod)
    inproc = _randomized(m.to_torch())
    standalone = mod.SeNet()
    standalone.load_state_dict(inproc.state_dict())
    x = _x(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(standalone.eval()(x), inproc(x))


# ---- the optimiser ------------------------------------------------------------------------------
#: Sibling convs that read one tensor inside a mul (they merge), a scale after a conv inside a gate
#: (folds into that conv), a scale after a mul (stays: no layer before it), an activation after a
#: mul (in place at -O2), a mul whose first input is the gate.
PASSES = """
block se(ratio = 4) = mul {
    identity
    avgpool(global) -> conv(make_divisible(in_channels / ratio), 1, act = relu)
                    -> conv(in_channels, 1, act = hardsigmoid)
}
model p {
    input x: 3x12x12
    defaults conv(bn = true, act = relu)
    s = x -> conv(16, 3) -> se
    t = s -> mul { conv(16, 1, act = sigmoid); conv(16, 1) -> scale(0.5); identity } -> relu
    u = t -> mul {
        conv(16, 1, bn = false, act = none)
        avgpool(global) -> conv(16, 1, bn = false, act = none) -> scale(2.0)
    } -> scale(0.5)
    g = u -> avgpool(global) -> conv(16, 1, bn = false, act = sigmoid)
    output y = mul(g, u, g) -> conv(8, 1) -> avgpool(global) -> flatten
}
"""


def test_levels_agree_and_no_pass_folds_or_merges_across_a_mul() -> None:
    from incept_dsl.driver import lower

    m = incept_dsl.loads(PASSES)
    net0 = _randomized(m.to_torch())
    state = net0.state_dict()
    x = _x(3, 3, 12, 12) * 2.0
    with torch.no_grad():
        ref = net0(x)
        for level in (1, 2):
            out = m.to_torch(opt_level=level, state_dict=state)(x)
            assert float((out - ref).abs().max() / ref.abs().max()) < 1e-4, f"-O{level}"
    g, _ = lower(m, 2, None, None)
    muls = {g.scope(n): [g.op(i) for i in g.inputs(n)] for n in g.nodes("mul")}
    assert muls == {
        "se_1.mul_1": ["relu", "hardsigmoid"],
        "mul_1": ["sigmoid", "scale", "mul"],  # the merged siblings' slices feed it
        "mul_2": ["conv", "conv"],  # the gate's scale(2.0) folded into its conv
        "mul_3": ["sigmoid", "scale", "sigmoid"],  # the scale(0.5) after mul_2 stays
    }
    assert [g.scope(n) for n in g.nodes("conv")].count("merged_1.conv") == 1
    (relu,) = [n for n in g.nodes("relu") if g.scope(n) == "relu_1"]
    assert g.meta(relu).get("inplace") is True  # the product is a fresh tensor
    assert not any("fused_add" in g.meta(n) for n in g.nodes("conv"))


# ---- ONNX ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("functions", [False, True])
@pytest.mark.parametrize("level", [0, 2])
def test_onnx_mul_nodes_match_torch(level: int, functions: bool) -> None:
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    m = incept_dsl.loads(PASSES)
    net0 = _randomized(m.to_torch())
    state = {k: v.numpy() for k, v in net0.state_dict().items()}
    x = _x(2, 3, 12, 12).numpy()
    proto = m.to_onnx(opt_level=level, state_dict=state, functions=functions)
    data = proto.SerializeToString()
    onnx.checker.check_model(data, full_check=True)
    if not functions:
        muls = [n.name for n in proto.graph.node if n.op_type == "Mul"]
        # mul_1 and mul_3 have three inputs: two binary Muls, the first one a helper
        assert {"se_1.mul_1", "mul_1/mul_1", "mul_1", "mul_2", "mul_3/mul_1", "mul_3"} <= set(muls)
    else:
        assert [f.name for f in proto.functions] == ["se"]
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {proto.graph.input[0].name: x})
    with torch.no_grad():
        want = net0(torch.from_numpy(x)).numpy()
    assert float(np.abs(got - want).max() / np.abs(want).max()) < 1e-4


# ---- costs, errors, initialisation --------------------------------------------------------------
def test_cost_rows_have_no_params_macs_per_output_element_and_memory_as_add() -> None:
    rows = {r.name: r for r in incept_dsl.loads(SE).summary().layers}
    r = rows["se_1.mul_1"]
    assert r.input_shapes == ((24, 8, 8), (24, 1, 1)) and r.output_shape == (24, 8, 8)
    assert (r.params, r.buffers, r.macs, r.memory_bytes) == (0, 0, 24 * 64, 24 * 64 * 4)


def test_a_branch_that_cannot_broadcast_is_located_with_a_note_per_branch() -> None:
    text = (
        "model m {\n    input x: 8x6x6\n    output y = x -> mul {\n        main: conv(16, 1)\n"
        "        gate: avgpool(global) -> conv(8, 1, act = sigmoid)\n    }\n}\n"
    )
    with pytest.raises(InceptError) as info:
        incept_dsl.loads(text)
    err = info.value
    assert (err.span.line, err.span.column) == (3, 21)
    assert "mul cannot broadcast 8×1×1 over 16×6×6" in err.message
    assert "a gate must be C×1×1 with the same C" in (err.hint or "")
    notes = [(n.message, n.span.line) for n in err.notes]
    assert notes == [
        ("branch 'main' produced 16×6×6 here", 4),
        ("branch 'gate' produced 8×1×1 here", 5),
    ]


def test_a_join_of_tensors_that_cannot_broadcast_notes_each_tensor() -> None:
    text = "model m { input x: 8x6x6\n a = x -> conv(4, 3, stride = 2)\n output y = mul(x, a) }"
    with pytest.raises(InceptError) as info:
        incept_dsl.loads(text)
    err = info.value
    assert "mul needs equal shapes (or C×1×1 gates); got 8×6×6, 4×3×3" in err.message
    assert [n.message for n in err.notes] == ["'x' is 8×6×6", "'a' is 4×3×3"]


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        ("x -> mul { }", "mul { } needs at least one branch"),
        ("x -> relu -> mul(x, x)", "mul(a, b) joins bound tensors and can only start a binding"),
        ("x -> mul { flatten; identity }", "mul mixes image and flat tensors"),
    ],
)
def test_other_mistakes_are_located_errors(pipeline: str, message: str) -> None:
    with pytest.raises(InceptError, match=message.replace("(", r"\(").replace(")", r"\)")):
        incept_dsl.loads(f"model m {{ input x: 8x6x6\n output y = {pipeline} }}")


def test_fan_in_leaves_an_add_alone_when_a_branch_ends_in_a_gate() -> None:
    from incept_dsl.backends.torch.init_schemes import residual_branch_ends

    text = SE.split("model")[0] + (
        "model r { input x: 16x6x6\n defaults conv(bn = true, act = relu)\n"
        " a = x -> residual { conv(16, 3) -> conv(16, 3, act = none) }\n"  # still zeroed
        " output y = a -> add { main: conv(16, 3) -> se; shortcut: conv(16, 1, act = none) } }"
    )
    # the shortcut's batch norm would be zeroed if the gated branch counted as the identity
    assert residual_branch_ends(incept_dsl.loads(text).graph) == ["conv_2.bn"]
