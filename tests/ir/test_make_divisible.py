"""`make_divisible(v)` / `make_divisible(v, d)` (LANGUAGE.md section 9): torchvision's
`_make_divisible`, compared with torchvision's own function and MobileNetV2's channel counts, and
its errors, located like those of `min`, `max`, `int` and `round`."""

from __future__ import annotations

import pytest
from helpers import model
from hypothesis import given, settings
from hypothesis import strategies as st

from incept_dsl.errors import InceptError, InceptErrors
from incept_dsl.frontend.parser import parse_expr
from incept_dsl.ir import values as V

_VALUES = st.one_of(
    st.integers(min_value=0, max_value=10**6),
    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
)
_DIVISORS = st.integers(min_value=1, max_value=64)


def _eval(text: str, env: dict | None = None):
    return V.evaluate(parse_expr(text), env or {})


def _error(text: str) -> InceptError:
    with pytest.raises(InceptError) as info:
        model(text)
    err = info.value
    assert not isinstance(err, InceptErrors), err.render()
    return err


@settings(max_examples=400, deadline=None, derandomize=True)
@given(v=_VALUES, d=_DIVISORS)
def test_the_properties_of_the_rounding(v: float, d: int) -> None:
    new = V.make_divisible(v, d)
    assert isinstance(new, int)
    assert new % d == 0 and new >= d and new >= 0.9 * v
    assert new < v + d or new == d  # never more than one step of d past v


@settings(max_examples=300, deadline=None, derandomize=True)
@given(v=_VALUES, d=_DIVISORS)
def test_it_is_torchvisions_make_divisible(torchvision, v: float, d: int) -> None:
    from torchvision.models._utils import _make_divisible

    assert V.make_divisible(v, d) == _make_divisible(v, d)
    assert V.make_divisible(v) == _make_divisible(v, 8)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(v=st.integers(min_value=0, max_value=10**5), d=_DIVISORS)
def test_the_language_calls_it(v: int, d: int) -> None:
    assert _eval(f"make_divisible({v} / 10, {d})") == V.make_divisible(v / 10, d)
    assert _eval("make_divisible(v * 0.75)", {"v": v}) == V.make_divisible(v * 0.75, 8)


def test_known_values() -> None:
    assert [_eval(f"make_divisible({v})") for v in (3, 12, 16, 24.5, 32 * 0.35, 1280 * 1.4)] == [
        8,
        16,
        16,
        24,
        16,
        1792,
    ]
    assert _eval("make_divisible(96 / 4, 8.0)") == 24  # a whole float divisor is accepted
    assert _eval("make_divisible(10, 1)") == 10


@pytest.mark.parametrize("width", [0.35, 0.5, 0.75, 1.0, 1.3, 1.4])
def test_mobilenet_v2_channel_counts(torchvision, width: float) -> None:
    ref = torchvision.mobilenet_v2(width_mult=width)
    text = f"""model m(width = {width}) {{
    input x: 3x32x32
    output y = x -> conv(make_divisible(32 * width), 3, stride = 2)
        -> conv(make_divisible(1280 * max(1.0, width)), 1)
}}
"""
    g = model(text).graph
    outs = [g.attrs(n)["out_channels"] for n in g.order() if g.op(n) == "conv"]
    assert outs == [ref.features[0][0].out_channels, ref.last_channel]


@pytest.mark.parametrize(
    ("call", "message", "caret"),
    [
        ("make_divisible()", "make_divisible() takes one or two arguments (v, d = 8); got 0", 0),
        ("make_divisible(8, 8, 8)", "takes one or two arguments (v, d = 8); got 3", 0),
        ("make_divisible(relu)", "unknown name 'relu' in arithmetic", len("make_divisible(")),
        ("make_divisible(true)", "make_divisible() needs a number; got the boolean true", 15),
        ("make_divisible(16, 0)", "divisor must be a whole number of at least 1; got 0", 19),
        ("make_divisible(16, 2.5)", "divisor must be a whole number of at least 1; got 2.5", 19),
        ("make_divisible(16, -8)", "divisor must be a whole number of at least 1; got -8", 19),
    ],
)
def test_mistakes_are_located(call: str, message: str, caret: int) -> None:
    prefix = "model m {\n    input x: 3x8x8\n    output y = x -> conv("
    err = _error(prefix + call + ", 1)\n}\n")
    assert message in err.message
    assert (err.span.line, err.span.column) == (3, len("    output y = x -> conv(") + 1 + caret)


def test_the_unknown_function_hint_names_it() -> None:
    err = _error("model m {\n input x: 3x8x8\n output y = x -> conv(ceil(8), 1)\n}\n")
    assert err.hint == "expressions may call min, max, int, round and make_divisible"
    err = _error("model m {\n input x: 3x8x8\n output y = x -> conv(make_divisable(8), 1)\n}\n")
    assert err.hint is not None and "make_divisible" in err.hint


def test_an_unapplied_block_reports_a_bad_divisor_next_to_an_unknown_value() -> None:
    text = """block unused(r = 4) = conv(make_divisible(in_channels / r, 0), 1)
model m {
    input x: 3x8x8
    output y = x -> conv(4, 1)
}
"""
    err = _error(text)
    assert "divisor" in err.message and err.span.column == text.index(", 0)") + 3
