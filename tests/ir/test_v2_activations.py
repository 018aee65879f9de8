"""The v2 activations (LANGUAGE.md section 11): `hardswish`, `hardsigmoid`, `leaky_relu(slope =
0.01)`, as ops and as `act =` values. Checked against the real thing: the module's outputs against
`torch.nn.functional` on the same weights, parameter counts against PyTorch's, located errors for
a bad slope and for a misspelt activation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import incept_dsl
from incept_dsl.errors import InceptError
from incept_dsl.frontend.signatures import ACTIVATIONS, SIGNATURES
from incept_dsl.ir.ops import OPS, macs

#: op -> what PyTorch computes for it (with its default arguments)
TORCH = {
    "hardswish": F.hardswish,
    "hardsigmoid": F.hardsigmoid,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
}


def _graph_ops(m: incept_dsl.Model) -> list[tuple[str, str, dict]]:
    g = m.graph
    return [(g.scope(n), g.op(n), g.attrs(n)) for n in g.order() if g.op(n) != "input"]


def _x(*shape: int) -> torch.Tensor:
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0)) * 4.0
    x.view(-1)[:4] = torch.tensor([-3.0, 3.0, 0.0, -0.0])  # the kinks
    return x


def test_the_three_are_activations_of_the_op_table() -> None:
    for op in TORCH:
        assert op in ACTIVATIONS and op in SIGNATURES
        assert OPS[op].family == "act" and not OPS[op].weighted
    assert OPS["leaky_relu"].attrs == ("slope",) == SIGNATURES["leaky_relu"].arg_names
    assert SIGNATURES["leaky_relu"].args[0].default == 0.01
    assert OPS["hardswish"].attrs == OPS["hardsigmoid"].attrs == ()


@pytest.mark.parametrize("op", sorted(TORCH))
@pytest.mark.parametrize("shape", [(3, 5, 7), (11,)], ids=["image", "flat"])
def test_each_op_computes_what_pytorch_does(op: str, shape: tuple[int, ...]) -> None:
    dims = "x".join(map(str, shape))
    m = incept_dsl.loads(f"model m {{ input x: {dims}\n output y = x -> {op} }}")
    assert [o for _, o, _ in _graph_ops(m)] == [op]
    x = _x(2, *shape)
    with torch.no_grad():
        torch.testing.assert_close(m.to_torch().eval()(x), TORCH[op](x), rtol=0, atol=0)


@pytest.mark.parametrize("slope", [0.2, -0.5, 0.0, 1.0, 3.0, -1000000000000.0])
def test_leaky_relu_takes_any_finite_slope(slope: float) -> None:
    m = incept_dsl.loads(f"model m {{ input x: 3x4x4\n output y = x -> leaky_relu({slope!r}) }}")
    x = _x(2, 3, 4, 4)
    with torch.no_grad():
        want = F.leaky_relu(x, slope)
        torch.testing.assert_close(m.to_torch().eval()(x), want, rtol=0, atol=0)


PROGRAM = """
model m {
    input image: 3x12x12
    x = image -> conv(8, 3, act = hardswish) -> conv(6, 1, bn = true, act = hardsigmoid)
        -> conv(4, 3, stride = 2, act = leaky_relu)
    output y = x -> flatten -> linear(5, act = leaky_relu) -> linear(3, act = hardswish)
}
"""


def test_act_adds_the_activation_after_the_layer_and_its_batch_norm() -> None:
    got = [(s, o) for s, o, _ in _graph_ops(incept_dsl.loads(PROGRAM))]
    assert got == [
        ("conv_1", "conv"),
        ("conv_1.hardswish", "hardswish"),
        ("conv_2.conv", "conv"),
        ("conv_2.bn", "batchnorm"),
        ("conv_2.hardsigmoid", "hardsigmoid"),
        ("conv_3", "conv"),
        ("conv_3.leaky_relu", "leaky_relu"),
        ("flatten_1", "flatten"),
        ("linear_1", "linear"),
        ("linear_1.leaky_relu", "leaky_relu"),
        ("linear_2", "linear"),
        ("linear_2.hardswish", "hardswish"),
    ]


def test_act_modules_equal_functional_pytorch_on_copied_weights() -> None:
    m = incept_dsl.loads(PROGRAM)
    net = m.to_torch().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.uniform_(-0.5, 0.5)
        bn = net.conv_2.bn
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 2.0)
    s = {k: v.clone() for k, v in net.state_dict().items()}
    x = _x(2, 3, 12, 12)
    with torch.no_grad():
        y = F.hardswish(F.conv2d(x, s["conv_1.weight"], s["conv_1.bias"], padding=1))
        y = F.conv2d(y, s["conv_2.conv.weight"])
        y = F.batch_norm(
            y,
            s["conv_2.bn.running_mean"],
            s["conv_2.bn.running_var"],
            s["conv_2.bn.weight"],
            s["conv_2.bn.bias"],
            eps=1e-5,
        )
        y = F.hardsigmoid(y)
        y = F.leaky_relu(
            F.conv2d(y, s["conv_3.weight"], s["conv_3.bias"], stride=2, padding=1), 0.01
        )
        y = F.leaky_relu(F.linear(y.flatten(1), s["linear_1.weight"], s["linear_1.bias"]), 0.01)
        want = F.hardswish(F.linear(y, s["linear_2.weight"], s["linear_2.bias"]))
        torch.testing.assert_close(net(x), want, rtol=1e-5, atol=1e-6)


def test_parameter_counts_are_the_layers_alone() -> None:
    m = incept_dsl.loads(PROGRAM)
    net = m.to_torch()
    ref = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.Hardswish(),
        torch.nn.Conv2d(8, 6, 1, bias=False),
        torch.nn.BatchNorm2d(6),
        torch.nn.Hardsigmoid(),
        torch.nn.Conv2d(6, 4, 3, stride=2, padding=1),
        torch.nn.LeakyReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 6 * 6, 5),
        torch.nn.LeakyReLU(),
        torch.nn.Linear(5, 3),
        torch.nn.Hardswish(),
    )
    want = sum(p.numel() for p in ref.parameters())
    assert m.param_count() == sum(p.numel() for p in net.parameters()) == want
    assert [k for k in net.state_dict() if "hard" in k or "leaky" in k] == []


def test_the_model_defaults_of_leaky_relu_apply_to_act_and_to_the_op() -> None:
    m = incept_dsl.loads("""model m {
        input x: 3x8x8
        defaults leaky_relu(slope = 0.2)
        output y = x -> conv(4, 3, act = leaky_relu) -> leaky_relu -> leaky_relu(slope = -0.1)
    }""")
    slopes = [a["slope"] for _, op, a in _graph_ops(m) if op == "leaky_relu"]
    assert slopes == [0.2, 0.2, -0.1]
    plain = incept_dsl.loads("model m { input x: 12\n output y = x -> fc(2, act = leaky_relu) }")
    assert [a for _, op, a in _graph_ops(plain) if op == "leaky_relu"] == [{"slope": 0.01}]


def test_an_op_valued_block_parameter_takes_the_new_activations() -> None:
    m = incept_dsl.loads("""
    block b(final = relu) = conv(4, 3) -> final
    model m { input x: 3x8x8
        output y = x -> b(final = leaky_relu) -> b(final = hardswish) -> b(final = hardsigmoid) }
    """)
    ops = [op for _, op, _ in _graph_ops(m) if op != "conv"]
    assert ops == ["leaky_relu", "hardswish", "hardsigmoid"]


def test_the_activations_cost_nothing_and_are_listed() -> None:
    for op in TORCH:
        attrs = {"slope": 0.01} if op == "leaky_relu" else {}
        assert macs(op, attrs, [(8, 4, 4)], (8, 4, 4)) == 0
        assert OPS[op].cost is OPS["relu"].cost
    summary = incept_dsl.loads(PROGRAM).summary()
    rows = [r for r in summary.layers if r.op in TORCH]
    assert len(rows) == 5 and all(r.macs == 0 and r.params == 0 for r in rows)
    for op in TORCH:
        assert f"{op} 0 (no multiply-add; listed)" in str(summary)


# ---- mistakes --------------------------------------------------------------------------------
def _error(body: str, **kw) -> InceptError:
    text = f"model m(v = 1) {{\n    input x: 3x8x8\n    output y = x -> {body}\n}}\n"
    with pytest.raises(InceptError) as e:
        incept_dsl.loads(text, name="acts.incept", **kw)
    return e.value


@pytest.mark.parametrize(
    ("body", "column", "message"),
    [
        (
            "leaky_relu(slope = nan)",
            40,
            "leaky_relu's 'slope' must be a number; got the name 'nan'",
        ),
        ("leaky_relu(slope = relu)", 40, "leaky_relu's 'slope' must be a number"),
        ("leaky_relu(slope = 3x3)", 40, "leaky_relu's 'slope' must be a number"),
        ("leaky_relu(slope = true)", 40, "leaky_relu's 'slope' must be a number"),
        ("leaky_relu(0.1, 0.2)", 37, "'leaky_relu' takes at most 1 positional argument; got 2"),
        ("leaky_relu(alpha = 0.1)", 32, "'leaky_relu' has no parameter 'alpha'"),
        ("hardswish(1)", 31, "'hardswish' takes at most 0 positional arguments"),
        ("hardsigmoid(slope = 1)", 33, "'hardsigmoid' has no parameter 'slope'"),
    ],
)
def test_bad_arguments_are_located(body: str, column: int, message: str) -> None:
    err = _error(body)
    assert (err.line, err.column) == (3, column)
    assert message in err.message, err.message


def test_a_nan_slope_from_the_api_is_refused() -> None:
    for value in (math.nan, math.inf, -math.inf):
        err = _error("leaky_relu(slope = v)", params={"v": value})
        assert "finite" in err.message and err.line == 3


def test_a_misspelt_activation_suggests_the_right_one() -> None:
    for typo, right in [
        ("leaky_rel", "leaky_relu"),
        ("hardswsh", "hardswish"),
        ("hardsigmod", "hardsigmoid"),
    ]:
        err = _error(f"conv(4, 3, act = {typo})")
        assert (err.line, err.column) == (3, 38)
        assert "must be one of" in err.message and "leaky_relu" in err.message
        assert err.hint == f"did you mean '{right}'?"
    err = _error("leaky_rel(slope = 0.1)")
    assert "unknown op or block 'leaky_rel'" in err.message
    assert err.hint is not None and "leaky_relu" in err.hint


def test_a_bad_slope_in_defaults_is_reported_where_it_is_written() -> None:
    with pytest.raises(InceptError) as e:
        incept_dsl.loads(
            "model m {\n    defaults leaky_relu(slope = same)\n    input x: 3x8x8\n"
            "    output y = x -> conv(4, 3, act = leaky_relu)\n}\n"
        )
    assert (e.value.line, e.value.column) == (2, 33)
    assert "leaky_relu's 'slope' must be a number" in e.value.message


def test_a_bad_slope_in_an_unused_block_is_found_without_shapes() -> None:
    with pytest.raises(InceptError) as e:
        incept_dsl.loads(
            "block b = leaky_relu(slope = relu)\n"
            "model m { input x: 3x8x8\n output y = x -> relu }\n"
        )
    assert (e.value.line, e.value.column) == (1, 30)
