"""Every independent mistake is reported, once, and none that another mistake caused.

The class of fault: a statement stopped at its first mistake (two typos needed two runs), and error
recovery re-elaborated every copy of a failing block (exponential in nested blocks). Here: the
mistakes of one call, one pipeline, one join, one statement are all reported; elements after a
failed one are checked without shapes (no cascades) unless the failed op keeps its input's shape;
a failing block body is elaborated once per argument set. A property test injects misspelt op
names and keywords into the shipped architectures and asserts that exactly the injected mistakes
come back.
"""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import incept_dsl
from incept_dsl.errors import InceptError, InceptErrors
from incept_dsl.frontend import ast
from incept_dsl.frontend.loader import Loader
from incept_dsl.frontend.signatures import ACTIVATIONS, SIGNATURES, canonical_op
from incept_dsl.ir.build import build_model
from incept_dsl.perf import ensure_recursion_limit
from incept_dsl.resources import bundled_architectures

ensure_recursion_limit()


def _errors(text: str) -> list[InceptError]:
    with pytest.raises(InceptError) as e:
        incept_dsl.loads(text, name="rec.incept")
    err = e.value
    return err.errors if isinstance(err, InceptErrors) else [err]


def _where(errors: list[InceptError]) -> list[tuple[int, int]]:
    return [(e.line, e.column) for e in errors]


def _model(*lines: str, shape: str = "3x16x16") -> str:
    body = "\n    ".join(lines)
    return f"model m {{\n    input x: {shape}\n    {body}\n}}\n"


# ---- several mistakes of one statement ----------------------------------------------------------
def test_two_unknown_ops_in_one_pipeline() -> None:
    errors = _errors(_model("output y = x -> covn(8, 3) -> relu -> lineaar(3)"))
    assert [e.message for e in errors] == [
        "unknown op or block 'covn'",
        "unknown op or block 'lineaar'",
    ]


def test_an_unknown_op_in_two_branches_of_one_concat() -> None:
    errors = _errors(_model("output y = x -> concat { covn(8, 3); relu -> poool(2) } -> relu"))
    assert [e.message.split("'")[1] for e in errors] == ["covn", "poool"]


def test_a_bad_value_and_an_unknown_keyword_in_one_call() -> None:
    errors = _errors(_model("output y = x -> conv(8, 0, stide = 2, act = rleu, bn = 1)"))
    assert [e.message for e in errors] == [
        "conv's 'kernel' must be at least 1; got 0",
        "'conv' has no parameter 'stide' (it takes: out, kernel, stride, padding, dilation, "
        "groups, bias, bn, act)",
        "conv's 'act' must be one of relu, relu6, gelu, silu, sigmoid, tanh, hardswish, "
        "hardsigmoid, leaky_relu or none; got 'rleu'",
        "conv's 'bn' must be true or false; got the integer 1",
    ]


def test_too_many_positional_arguments_and_a_keyword_given_twice() -> None:
    errors = _errors(_model("output y = x -> maxpool(2, 2, 0, false, 9, kernel = 3)"))
    assert [e.message for e in errors] == [
        "'maxpool' takes at most 4 positional arguments; got 5",
        "'maxpool' got two values for 'kernel'",
    ]


def test_a_misspelt_keyword_is_not_also_a_missing_argument() -> None:
    (err,) = _errors(_model("output y = x -> conv(8, kernl = 3)"))
    assert err.message.startswith("'conv' has no parameter 'kernl'")
    assert err.hint == "did you mean 'kernel'?"
    (err,) = _errors("block b(c) = conv(c, 3)\n" + _model("output y = x -> b(cc = 8)"))
    assert err.message.startswith("'b' has no parameter 'cc'")


def test_a_misspelt_keyword_does_not_break_a_rule_of_several_arguments() -> None:
    """upsample needs one of 'scale' and 'size': a misspelt 'size' is that mistake alone."""
    (err,) = _errors(_model("output y = x -> upsample(zize = 4x4)"))
    assert err.message.startswith("'upsample' has no parameter 'zize'")
    (err,) = _errors(_model("output y = x -> upsample(mode = bilinear)"))  # no misspelling
    assert "got neither" in err.message


def test_block_call_mistakes_are_all_reported() -> None:
    errors = _errors(
        "block b(c, k, s = 1) = conv(c, k, stride = s)\n"
        + _model("output y = x -> b(k = 3, q = 1, s = 1 / 0)")
    )
    assert [e.message for e in errors] == [
        "block 'b' needs a value for its parameter 'c'",
        "'b' has no parameter 'q' (it takes: c, k, s)",
        "division by zero in '/'",
    ]


def test_residual_scale_and_body_mistakes_are_both_reported() -> None:
    errors = _errors(_model("output y = x -> residual(scale = relu) { covn }"))
    assert [e.message for e in errors] == [
        "residual scale must be a number; got the name 'relu'",
        "unknown op or block 'covn'",
    ]


def test_a_bad_repeat_count_still_checks_the_body() -> None:
    errors = _errors(_model("output y = x -> repeat(-1) { covn } -> relu"))
    assert [e.message for e in errors] == [
        "the repeat count must be at least 0; got -1",
        "unknown op or block 'covn'",
    ]


def test_a_repeat_of_zero_copies_checks_its_body() -> None:
    (err,) = _errors(_model("output y = x -> repeat(0) { conv(8, 3) -> covn }"))
    assert err.message == "unknown op or block 'covn'"


def test_every_unknown_name_of_a_join() -> None:
    errors = _errors(_model("a = x -> relu", "output y = concat(a, b1, b2) -> covn"))
    assert [e.message for e in errors] == [
        "unknown tensor 'b1'",
        "unknown tensor 'b2'",
        "unknown op or block 'covn'",
    ]


def test_a_bad_aux_weight_and_a_pipeline_mistake() -> None:
    errors = _errors(_model("output y = x -> relu", "aux z = x -> covn weight relu"))
    assert [e.message for e in errors] == [
        "unknown op or block 'covn'",
        "an aux weight must be a number; got the name 'relu'",
    ]


def test_every_bad_keyword_of_a_defaults_statement() -> None:
    errors = _errors(_model("defaults conv(sride = 2, act = rleu, bn = true, bn = false)"))
    assert [e.message.split(";")[0].split(" (")[0] for e in errors] == [
        "'conv' has no parameter 'sride'",
        "conv's 'act' must be one of relu, relu6, gelu, silu, sigmoid, tanh, hardswish, "
        "hardsigmoid, leaky_relu or none",
        "keyword 'bn' is given twice",
    ]


# ---- and none that another mistake caused -------------------------------------------------------
@pytest.mark.parametrize(
    "pipeline",
    [
        "covn(8, 3) -> linear(3)",  # linear on an image: only known from covn's output
        "conv(8, 3) -> expect(9x16x16) -> linear(3) -> conv(4, 3)",
        "concat { covn(8, 3); relu } -> add { relu; conv(2, 3) }",
        "b(8) -> linear(3)",  # b fails inside: its output shape is unknown
        "repeat(2) { covn } -> flatten -> conv(8, 3)",
        "residual { covn } -> linear(3)",
    ],
)
def test_nothing_downstream_of_a_failed_element_is_a_consequence(pipeline: str) -> None:
    block = "block b(c) = conv(c, 3) -> linear(c)\n"  # fails on shapes only: not when unused
    errors = _errors(block + _model(f"output y = x -> {pipeline}"))
    assert len(errors) == 1, [e.message for e in errors]


def test_after_an_op_that_keeps_its_shape_the_shapes_are_still_checked() -> None:
    errors = _errors(
        _model(
            "output y = x -> dropout(2) -> bn(eps = 0) -> relu(1) -> softmax(dim = 9) -> linear(3)"
        )
    )
    assert [e.message.split(" must")[0].split(";")[0] for e in errors] == [
        "dropout's 'p'",
        "batchnorm's 'eps'",
        "'relu' takes at most 0 positional arguments",
        "softmax's 'dim'",
        "linear needs a flat tensor N×F or tokens N×L×D",
    ]


def test_an_lrn_mistake_after_a_failed_batchnorm_is_reported() -> None:
    """The lrn after a failed bn is elaborated on (bn keeps the shape), whatever follows it."""
    for tail in ("", " -> flatten", " -> flatten -> linear(3)"):
        errors = _errors(
            "model e { input x: 3x8x8\n"
            f" output y = x -> bn(eps = 0) -> lrn(k = 0, alpha = 0){tail} }}"
        )
        assert [(e.line, e.column, e.message.split(" must")[0]) for e in errors] == [
            (2, 27, "batchnorm's 'eps'"),
            (2, 41, "lrn's 'k'"),
        ], tail


#: Per op whose output keeps its input's shape: calls with exactly one mistake (a value outside
#: its range, of the wrong kind, a rule between arguments, too many positional arguments), some
#: with valid arguments beside it.
_ONE_MISTAKE: dict[str, list[str]] = {
    "batchnorm": ["bn(eps = 0)", "batchnorm(momentum = 2)", "bn(eps = -1, momentum = 0.5)"],
    "lrn": [
        "lrn(k = 0)",
        "lrn(k = 0, alpha = 0)",
        "lrn(5, 0, 0.75, 0)",
        "lrn(alpha = -1, k = 2)",
        "lrn(size = 0, alpha = 0)",
        "lrn(k = 1e12, beta = 4)",  # k^beta past float32
    ],
    **{a: [f"{a}(1)"] for a in ACTIVATIONS if not SIGNATURES[a].args},
    "leaky_relu": ["leaky_relu(slope = relu)", "leaky_relu(0.1, 0.2)"],
    "identity": ["identity(2)"],
    "softmax": ["softmax(dim = 0)", "softmax(4)"],
    "dropout": ["dropout(p = 2)", "dropout(-0.5)"],
    "scale": ["scale(s = relu)", "scale()"],
    "channel_shuffle": ["channel_shuffle(0)", "channel_shuffle(groups = relu)"],
    "layer_scale": ["layer_scale(init = relu)", "layer_scale(1, 2)"],
    "groupnorm": ["groupnorm(0)", "groupnorm(3, eps = 0)", "groupnorm(1, 1e-5, 2)"],
    "stochastic_depth": ["stochastic_depth(p = 2)", "stochastic_depth(0.1, mode = rows)"],
    "layernorm": ["layernorm(eps = 0)", "layernorm(eps = relu)", "layernorm(1e-5, 2)"],
    # the token ops: a mistake in the arguments is reported, not also that the input (an image
    # here) is no token tensor, since the op's shape is not checked then
    "pos_embedding": [
        "pos_embedding(std = -1)",
        "pos_embedding(std = relu)",
        "pos_embedding(0, 1)",
    ],
    "attention": [
        "attention(0)",
        "attention(2, dropout = 2)",
        "attention(heads = relu)",
        "attention(2, bias = 1)",
        "attention(2, 0.1, true, 4)",
    ],
}


def test_the_one_mistake_table_covers_every_op_that_keeps_its_shape() -> None:
    assert sorted(_ONE_MISTAKE) == sorted(n for n, s in SIGNATURES.items() if s.keeps_shape)


@pytest.mark.parametrize(
    "call", [c for op in ("attention", "pos_embedding", "layernorm") for c in _ONE_MISTAKE[op]]
)
def test_a_token_op_s_one_mistake_on_tokens_is_one_error_and_the_rest_is_checked(call: str) -> None:
    """On tokens, after the mistake the shapes are still checked: `linear(3)` on the tokens is
    fine, `conv` on them is the second mistake."""
    text = _model(f"output y = x -> tokens -> {call} -> linear(3) -> conv(4, 3)", shape="4x8x8")
    errors = _errors(text)
    assert len(errors) == 2, [e.message for e in errors]
    assert errors[0].span.start >= text.index(call) and "conv needs an image" in errors[1].message


_WRAPS = [
    "output y = x -> {chain}{tail}",
    "output y = x -> ({chain}){tail}",
    "output y = x -> residual {{ {chain} }}{tail}",
    "output y = x -> relu -> concat {{ {chain}; relu }}{tail}",
    "output y = x -> b{tail}\n    block b = {chain}",  # elaborated with shapes
    "output y = x -> relu{tail}\n    block b = {chain}",  # unused: checked without shapes
]


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(
    st.lists(
        st.sampled_from([c for calls in _ONE_MISTAKE.values() for c in calls]),
        min_size=1,
        max_size=5,
    ),
    st.sampled_from(
        ["", " -> flatten", " -> flatten -> linear(3)", " -> conv(4, 3)", " -> relu -> flatten"]
    ),
    st.sampled_from(_WRAPS),
)
def test_a_chain_of_ops_that_keep_their_shape_reports_one_mistake_per_op(
    calls: list[str], tail: str, wrap: str
) -> None:
    chain = " -> ".join(calls)
    text = _model(wrap.format(chain=chain, tail=tail), shape="3x8x8")
    starts, at = [], text.index(chain)
    for call in calls:
        starts.append(at)
        at += len(call) + len(" -> ")
    errors = _errors(text)
    got = sorted(e.span.start for e in errors)
    assert len(got) == len(calls), [e.message for e in errors]
    for start, call, where in zip(starts, calls, got, strict=True):
        assert start <= where < start + len(call), (call, [e.message for e in errors])


def test_statements_reading_a_failed_tensor_still_report_their_own_unknown_ops() -> None:
    errors = _errors(
        _model("a = x -> covn", "b = a -> conv(8, 3) -> linear(3)", "output y = b -> poool")
    )
    assert [e.message for e in errors] == [
        "unknown op or block 'covn'",
        "unknown op or block 'poool'",
    ]


# ---- a failing block body is elaborated once per argument set -----------------------------------
def test_a_failing_block_applied_many_times_is_reported_once_and_quickly() -> None:
    lines = ["block e0(c) = conv(c, 3) -> covn"]
    lines += [
        f"block e{i}(f = e{i - 1}, c = 8) = concat {{ f(c = c); f(c = c) }}" for i in range(1, 31)
    ]
    text = "\n".join(lines) + "\n" + _model("output y = x -> e30")
    start = time.perf_counter()
    (err,) = _errors(text)
    assert time.perf_counter() - start < 10  # 2**30 copies without the memo
    assert err.message == "unknown op or block 'covn'"


def test_a_block_failing_only_for_some_arguments_is_reported_for_each() -> None:
    errors = _errors(
        "block b(c) = conv(c, 3) -> expect(8x16x16)\n"
        + _model("output y = x -> concat { b(8); b(4); b(8); b(2); b(4) }")
    )
    assert [e.message.split(", ")[1] for e in errors] == [
        "the pipeline produces 4×16×16 here",
        "the pipeline produces 2×16×16 here",
    ]


# ---- property: exactly the injected mistakes come back ------------------------------------------
def _calls(program: ast.Program) -> list[ast.Call]:
    """Every call of a built-in op in the program's pipelines (not tensor reads)."""
    params = {p.name for b in program.blocks for p in b.params}
    params |= {p.name for m in program.models for p in m.params}
    params |= {
        p.name
        for m in program.models
        for s in m.body
        if isinstance(s, ast.BlockDef)
        for p in s.params
    }
    out: list[ast.Call] = []

    def pipeline(p: ast.Pipeline, first: bool = False) -> None:
        for i, el in enumerate(p.elements):
            if first and i == 0:
                continue
            element(el)

    def element(el: ast.Element) -> None:
        if isinstance(el, ast.Named):
            element(el.element)
        elif isinstance(el, ast.Call):
            if canonical_op(el.name) not in (None, "expect") and el.name not in params:
                out.append(el)
        elif isinstance(el, ast.Branches):
            for br in el.branches:
                pipeline(br.pipeline)
        elif isinstance(el, ast.Residual | ast.Repeat):
            pipeline(el.body)
        elif isinstance(el, ast.Group):
            pipeline(el.pipeline)

    for b in program.blocks:
        pipeline(b.body)
    for m in program.models:
        for s in m.body:
            if isinstance(s, ast.BlockDef):
                pipeline(s.body)
            elif isinstance(s, ast.Bind):
                pipeline(s.pipeline, first=True)
    return out


_SHIPPED = {p.name: p.read_text(encoding="utf-8") for p in bundled_architectures()}
#: Where the shipped files' imports (`import "resnet.incept"`) are found.
_BASE = bundled_architectures()[0].parent


def _check_all(text: str) -> list[InceptError]:
    unit = Loader().load_text(text, "inj.incept", _BASE)
    errors: list[InceptError] = []
    for m in unit.program.models:
        try:
            build_model(unit, m.name)
        except InceptError as err:
            errors.append(err)
    if not errors:
        return []
    merged = InceptErrors.of(errors)
    return merged.errors if isinstance(merged, InceptErrors) else [merged]


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.sampled_from(sorted(_SHIPPED)), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_exactly_the_injected_mistakes_are_reported(name: str, k: int, seed: int) -> None:
    text = _SHIPPED[name]
    unit = Loader().load_text(text, "inj.incept", _BASE)
    calls = _calls(unit.program)
    rng = random.Random(seed)
    chosen = rng.sample(calls, min(k, len(calls)))
    edits: list[tuple[int, int, str]] = []
    expected: set[tuple[int, str]] = set()
    for i, call in enumerate(chosen):
        keywords = call.args.keywords if call.args is not None else ()
        if keywords and rng.random() < 0.5:  # misspell a keyword the call gives
            kw = rng.choice(keywords)
            edits.append((kw.name_span.start, kw.name_span.end, f"zq{i}kw"))
            expected.add((kw.name_span.start, f"has no parameter 'zq{i}kw'"))
        else:  # misspell the op
            edits.append((call.name_span.start, call.name_span.end, f"zq{i}op"))
            expected.add((call.name_span.start, f"unknown op or block 'zq{i}op'"))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    # offsets before an edit are unchanged; map the expected ones through the earlier edits
    shift = {}
    for start, _, _ in sorted(edits):
        shift[start] = sum(len(n) - (e - s) for s, e, n in edits if s < start)
    want = {(start + shift[start], words) for start, words in expected}
    got = {(e.span.start, e.message) for e in _check_all(text)}
    assert len(got) == len(want), (sorted(got), sorted(want))
    for (start, words), (gstart, gmessage) in zip(sorted(want), sorted(got), strict=True):
        assert start == gstart and words in gmessage, (gmessage, words)
