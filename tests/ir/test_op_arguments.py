"""Op arguments are checked against the op table's valid ranges at `check`, never later.

The class of fault: `bn(eps = 0)`, `lrn(k = 0, alpha = 0)`, `dropout(1.5)` compiled and then
failed in PyTorch or gave inf/NaN. Every numeric argument of every op must now declare its valid
values in `incept_dsl.ir.ops` (a test fails when a new one does not); values just outside each
range are located errors that name the range; values at the edge of each range give finite
outputs in PyTorch (training and evaluation) and onnxruntime.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import incept_dsl
from incept_dsl.errors import InceptError, InceptErrors, UsageError
from incept_dsl.frontend.signatures import FLOAT32_TINY, SIGNATURES, Range
from incept_dsl.ir.args import CHOICES

#: Numeric arguments for which every finite value (within the 10**12 bound on values) is valid.
_ANY_FINITE = {("lrn", "beta"), ("scale", "s"), ("leaky_relu", "slope"), ("layer_scale", "init")}
#: Numeric kinds whose minimum the kind itself enforces (counts, sizes, strides, padding).
_KIND_CHECKED = {"count", "pair", "pair0", "padding", "pool_kernel"}
#: What each op needs besides the argument under test (keyed by op, or by (op, argument)).
_REQUIRED = {
    "scale": "1.0",
    "groupnorm": "2",
    "attention": "2",
    ("slice", "start"): "end = 4",
    ("slice", "end"): "start = 0",
}
#: What each op's input must go through first: the token ops read tokens L×D.
_BEFORE = {"pos_embedding": "tokens -> ", "attention": "tokens -> ", "select": "tokens -> "}


def test_every_numeric_argument_declares_its_valid_values() -> None:
    undeclared = {
        (sig.name, arg.name)
        for sig in SIGNATURES.values()
        for arg in sig.args
        if arg.kind in ("float", "int") and arg.valid is None
    }
    assert undeclared == _ANY_FINITE  # a new numeric argument must say what it accepts
    for sig in SIGNATURES.values():
        for arg in sig.args:
            assert arg.kind in (
                *_KIND_CHECKED,
                *CHOICES,
                "float",
                "int",
                "bool",
                "bias",
                "act",
                "shape",
            )


_RANGED = [
    (sig.name, arg.name, arg.kind, arg.valid)
    for sig in SIGNATURES.values()
    for arg in sig.args
    if arg.valid is not None
]


def _edges(valid: Range, kind: str) -> tuple[list[float], list[float]]:
    """Values at the edges of `valid`, inside and just outside it."""
    step = 1 if kind == "int" else None
    inside: list[float] = []
    outside: list[float] = [math.nan] if kind == "float" else []
    for bound, is_open, sign in ((valid.lo, valid.lo_open, -1), (valid.hi, valid.hi_open, 1)):
        if bound is None:
            continue
        delta = step or max(abs(bound) * 1e-3, 1e-9)
        if bound == FLOAT32_TINY:
            outside += [0.0, FLOAT32_TINY / 2, -1.0]
        else:
            outside.append(bound + sign * delta)
        if is_open:
            outside.append(bound)
            inside.append(bound - sign * delta)
        else:
            inside.append(bound)
    return inside, outside


def _program(op: str, arg: str, value: str) -> str:
    required = _REQUIRED.get((op, arg), _REQUIRED.get(op))
    args = ", ".join([*([required] if required else []), f"{arg} = {value}"])
    call = f"{_BEFORE.get(op, '')}{op}({args})"
    return f"model m {{\n    input x: 4x6x6\n    output y = x -> {call}\n}}\n"


@pytest.mark.parametrize(
    ("op", "arg", "kind", "valid"), _RANGED, ids=[f"{o}-{a}" for o, a, _, _ in _RANGED]
)
def test_values_outside_each_range_are_located_errors(op, arg, kind, valid) -> None:
    inside, outside = _edges(valid, kind)
    for v in inside:
        incept_dsl.loads(_program(op, arg, repr(v)))
    for v in outside:
        if isinstance(v, float) and math.isnan(v):
            with pytest.raises(InceptError, match="finite"):  # NaN through the API
                incept_dsl.loads(
                    _program(op, arg, "v").replace("model m", "model m(v = 1)"), params={"v": v}
                )
            continue
        text = _program(op, arg, repr(int(v)) if kind == "int" else repr(v))
        with pytest.raises(InceptError) as e:
            incept_dsl.loads(text, name="args.incept")
        err = e.value
        assert not isinstance(err, InceptErrors), err.render()
        assert f"must be {valid.text}" in err.message, err.message
        assert err.line == 3 and text.splitlines()[2][err.column - 1 :].startswith(
            (repr(v), repr(int(v)), "-")
        )


@pytest.mark.parametrize(
    "text",
    [
        "lrn(k = 0, alpha = 0)",
        "lrn(k = 1e-30, beta = 2)",
        "lrn(k = 1e-6, beta = -8)",
        "bn(eps = 0)",
        "bn(eps = -1e-5)",
        "bn(momentum = 1.5)",
        "dropout(1.5)",
        "dropout(-0.5)",
        "softmax(dim = 0)",
        "softmax(dim = 4)",
        "maxpool(3, padding = 2)",
        "avgpool(2, padding = 2)",
        "conv(8, 3, bn = true) -> lrn(alpha = -1)",
    ],
)
def test_the_examples_of_the_issue_are_rejected_at_check(text: str) -> None:
    with pytest.raises(InceptError) as e:
        incept_dsl.loads(f"model m {{ input x: 4x8x8\n output y = x -> {text} }}")
    assert not isinstance(e.value, InceptErrors) and e.value.line == 2
    assert any(w in e.value.message for w in ("must be", "outside", "more than half"))


def test_defaults_outside_a_range_are_reported_where_they_are_written() -> None:
    with pytest.raises(InceptError) as e:
        incept_dsl.loads(
            "model m {\n defaults batchnorm(eps = 0)\n input x: 4x8x8\n"
            " output y = x -> conv(8, 3, bn = true) }"
        )
    assert (e.value.line, e.value.column) == (2, 27)


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, 10**100, 1e300],
    ids=["nan", "inf", "-inf", "big", "1e300"],
)
def test_values_from_the_api_are_bounded_like_literals(value) -> None:
    with pytest.raises((InceptError, UsageError)) as e:
        incept_dsl.loads(
            "model m(s = 1) {\n input x: 4x8x8\n output y = x -> scale(s) -> conv(8, 3, stride = s) }",
            params={"s": value},
        )
    if isinstance(e.value, InceptError):
        assert e.value.line == 3


# ---- the edges of the ranges run, and give finite numbers ---------------------------------------
_EDGES = f"""
model edges {{
    input x: 4x6x6
    a1 = x -> bn(eps = {FLOAT32_TINY!r}, momentum = 0)
    a2 = x -> bn(eps = 1000000, momentum = 1)
    b1 = x -> lrn(k = {FLOAT32_TINY!r}, alpha = 0)
    b2 = x -> lrn(size = 1, alpha = 0, k = 1e-18, beta = 2)
    b3 = x -> lrn(size = 9, k = 1e6, beta = -6)
    b4 = x -> lrn(alpha = 1e6, k = {FLOAT32_TINY!r})
    d = x -> softmax(dim = 1) -> softmax(dim = 2) -> softmax(dim = 3) -> dropout(1) -> dropout(0)
    e = x -> maxpool(3, padding = 1, stride = 1) -> avgpool(3, padding = 1, stride = 1)
        -> scale(-1000000000000)
    f = x -> leaky_relu(slope = -1000000000000) -> leaky_relu(slope = 1000000000000)
        -> leaky_relu(slope = 0) -> hardswish -> hardsigmoid
    g1 = x -> groupnorm(4, eps = {FLOAT32_TINY!r}) -> groupnorm(1, eps = 1000000)
        -> stochastic_depth(1) -> stochastic_depth(0, mode = batch) -> upsample(scale = 1)
    g2 = x -> layer_scale(-1000000000000) -> layer_scale(1000000000000) -> channel_shuffle(4)
    output y = concat(a1, a2, b1, b2, b3, b4, d, e, f, g1, g2) -> flatten
}}
"""


# The v2 ops at the edges of their ranges: layer norm's eps, a position table of std 0, attention
# dropping everything in training (dropout = 1: the output is the out-projection's bias), the
# first token, the last channel.
_EDGES_V2 = f"""
model edges_v2 {{
    input x: 4x6x6
    t = x -> layernorm(eps = {FLOAT32_TINY!r}) -> layernorm(eps = 1000000) -> tokens
        -> class_token -> pos_embedding(std = 0) -> layernorm(eps = {FLOAT32_TINY!r})
    a = t -> attention(2, dropout = 0) -> attention(1, dropout = 1) -> select(index = 0)
    b = x -> slice(3, 4) -> slice(start = 0, end = 1) -> conv_transpose(4, 1) -> flatten
    output y = concat(a, b)
}}
"""


def _inputs() -> np.ndarray:
    x = np.random.default_rng(0).standard_normal((2, 4, 6, 6)).astype(np.float32)
    x[:, 0] = 0.0  # a zero channel
    x[:, 1] = 3.0  # a constant channel: batch variance 0
    return x


@pytest.mark.parametrize("program", [_EDGES, _EDGES_V2], ids=["v1", "v2"])
def test_the_edges_of_every_range_run_finite_in_pytorch(program: str) -> None:
    torch = pytest.importorskip("torch")
    net = incept_dsl.loads(program).to_torch()
    for train in (True, False):
        net.train(train)
        with torch.no_grad():
            y = net(torch.from_numpy(_inputs()))
        assert torch.isfinite(y).all(), train


@pytest.mark.parametrize("program", [_EDGES, _EDGES_V2], ids=["v1", "v2"])
def test_the_edges_of_every_range_run_finite_in_onnxruntime(tmp_path, program: str) -> None:
    ort = pytest.importorskip("onnxruntime")
    path = tmp_path / "edges.onnx"
    incept_dsl.loads(program).to_onnx(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {session.get_inputs()[0].name: _inputs()})
    assert np.isfinite(y).all()


def test_values_outside_the_ranges_do_fail_in_pytorch() -> None:
    """Why the ranges are what they are: PyTorch refuses these, or gives NaN. (Each edge is safe
    for one layer on inputs of ordinary size; float32 can still overflow when layers at the edges
    of their ranges are chained on large values, as any float32 network can.)"""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = torch.from_numpy(_inputs())
    with pytest.raises(ValueError, match="eps"):
        F.batch_norm(x, None, None, training=True, eps=0.0)
    assert not torch.isfinite(F.local_response_norm(x, 5, alpha=0.0, k=0.0)).all()
    assert not torch.isfinite(F.local_response_norm(x, 5, alpha=-1.0, k=1.0)).all()
    with pytest.raises(ValueError, match="dropout probability"):
        F.dropout(x, 1.5, True)
