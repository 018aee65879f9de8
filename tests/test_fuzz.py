"""Property-based fuzzing: whatever the text, checking it ends in success or in an `InceptError`
whose every location lies inside the file — never another exception, never a hang.

Two sources of programs:
- `programs()`: random, mostly valid programs built rule by rule after `grammars/incept.lark`
  (blocks with parameters, among them one bound to an op or a block, inputs, defaults, bindings,
  joins, every op of language v1 and v2 and `crop` with its arguments, concat/add/mul/residual/
  repeat bodies, squeeze-and-excitation gates, `in_channels` and `make_divisible` in expressions,
  token tails, groups, labels, `as` names, comments);
- `mutants()`: the shipped `architectures/*.incept` files with tokens deleted, duplicated, swapped,
  inserted, numbers changed and text cut off.

Generated programs that parse are also formatted: `fmt` must keep their AST and comments and be
idempotent, and a program that checks must check to the same shapes after formatting.

The normal run is a few thousand cases (well under a minute). For a long run:
    HYPOTHESIS_PROFILE=long python -m pytest tests/test_fuzz.py
(25x the examples, random seeds; failures print a reproducing blob).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incept_dsl.errors import InceptError, InceptErrors, UsageError
from incept_dsl.fmt import ast_equal, format_text
from incept_dsl.frontend.loader import Loader
from incept_dsl.frontend.parser import _parser, parse
from incept_dsl.ir.build import build_model
from incept_dsl.perf import ensure_recursion_limit
from incept_dsl.resources import bundled_architectures
from incept_dsl.source import Span

_LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
ensure_recursion_limit()  # what elaboration would do mid-test, which hypothesis warns about


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples * (25 if _LONG else 1),
        deadline=None,
        derandomize=not _LONG,  # the normal run is reproducible; the long run explores
        database=None if not _LONG else settings.default.database,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


# ---- the property ------------------------------------------------------------------------------
#: UsageErrors that a program alone can cause: they need a command-line choice, not an edit.
_USAGE_OK = re.compile(r"needs a value for its parameter|defines several models")


def _check_span(span: Span | None, text: str) -> None:
    assert span is not None, "an error without a location"
    lines = re.split(r"\r\n?|\n", text) if text else [""]
    assert 1 <= span.line <= len(lines), (span.line, len(lines))
    assert 1 <= span.column <= len(lines[span.line - 1]) + 1, (span, lines[span.line - 1])
    assert 0 <= span.start <= span.end <= len(text)


def check_text(text: str, base: Path) -> list[tuple[str, dict]]:
    """Check every model of `text`; return (model, output shapes) or raise AssertionError when
    the outcome is not a success or a well-located `InceptError`."""
    try:
        unit = Loader().load_text(text, "fuzz.incept", base)
        results = []
        errors: list[InceptError] = []
        for m in unit.program.models:
            try:
                g = build_model(unit, m.name)
                results.append((m.name, {h.name: g.shape(h.node) for h in g.heads}))
            except InceptError as err:
                errors.append(err)
        if errors:
            raise InceptErrors.of(errors)
        return results
    except InceptError as err:
        for e in err.errors if isinstance(err, InceptErrors) else [err]:
            if e.span is not None and e.span.file == "fuzz.incept":
                _check_span(e.span, text)
            else:
                assert e.span is not None, e.render()
            for note in e.notes:
                if note.span is not None and note.span.file == "fuzz.incept":
                    _check_span(note.span, text)
            assert e.render()  # rendering never fails either
        return []
    except UsageError as err:
        assert _USAGE_OK.search(str(err)), str(err)
        return []


# ---- programs from the grammar -----------------------------------------------------------------
_NAMES = st.sampled_from(["a", "b", "c", "t0", "t1", "t2", "x", "y", "feat", "skip"])


_INT_EXPRS = [
    "1",
    "2",
    "4",
    "8",
    "16",
    "32",
    "5",
    "0",
    "8 * 2",
    "16 // 2",
    "3 + 1",
    "9 - 1",
    "8 / 2",
    "7 % 3",
    "int(16 / 3)",
    "max(4, 1)",
    "min(8, 16)",
    "(4)",
    "round(2.5)",
    "-(-4)",
    "make_divisible(20)",
    "make_divisible(12, 4)",
    "make_divisible(8 / 3)",
]
_PARAM_EXPRS = [
    "{p}",
    "{p}",
    "{p} * 2",
    "{p} // 2",
    "int({p} * 0.5)",
    "max({p} - 1, 1)",
    "{p} / 3",
    "make_divisible({p} / 4)",
    "make_divisible({p} * 1.5, 4)",
]
_CONV_OPTS = [
    "",
    "",
    "",
    ", stride = 2",
    ", padding = valid",
    ", padding = 1",
    ", act = relu",
    ", bn = true",
    ", bn = true, act = relu",
    ", groups = 2",
    ", dilation = 2",
    ", bias = false",
    ", padding = (0, 1)",
    ", act = gelu",
    ", act = none",
    ", act = hardswish",
    ", act = hardsigmoid",
    ", act = leaky_relu",
]
_CONV_TRANSPOSE_OPTS = [
    "",
    ", stride = 2",
    ", stride = 2, output_padding = 1",
    ", stride = 2, padding = 1, output_padding = 1",
    ", padding = 1",
    ", bn = true, act = relu",
    ", groups = 2",
    ", act = hardswish",
    ", output_padding = 1",  # not below the stride: a located error
]
_SIMPLE_OPS = [
    "relu",
    "relu",
    "gelu",
    "sigmoid",
    "tanh",
    "silu",
    "relu6",
    "identity",
    "bn",
    "batchnorm(eps = 1e-3)",
    "lrn",
    "lrn(size = 3)",
    "dropout",
    "dropout(0.2)",
    "softmax",
    "scale(0.5)",
    "maxpool(2)",
    "maxpool(3, stride = 1)",
    "maxpool(3, stride = 2, padding = valid)",
    "maxpool(2, ceil = true)",
    "avgpool(2)",
    "avgpool(3, stride = 1)",
    "avgpool(global)",
    "avgpool(3, stride = 1, count_include_pad = false)",
    "adaptive_avgpool(1)",
    "adaptive_avgpool(2x2)",
    "expect(8x8x8)",
    "hardswish",
    "hardsigmoid",
    "leaky_relu",
    "leaky_relu(slope = 0.2)",
    "channel_shuffle(2)",
    "layer_scale",
    "layer_scale(0.1)",
    "groupnorm(2)",
    "groupnorm(1, eps = 1e-3)",
    "layernorm",
    "layernorm(eps = 1e-6)",
    "stochastic_depth(0.1)",
    "stochastic_depth(0.2, mode = batch)",
    "upsample(scale = 2)",
    "upsample(size = 8x8, mode = bilinear)",
    "upsample(size = 6, mode = bilinear, align_corners = true)",
    "crop(4)",  # larger than the picture now and then: a located error
    "crop(size = 6x5)",
    "slice(0, 2)",
    "slice(1, 4)",
    "tokens",
    "class_token",
    "pos_embedding",
    "pos_embedding(std = 0.1)",
    "attention(2)",
    "attention(1, dropout = 0.1, bias = false)",
    "select",
    "select(1)",
]
#: Squeeze-and-excitation gates: `mul { }` with a C×1×1 branch (valid inside a block body).
_GATES = [
    "mul { identity; avgpool(global) -> conv(in_channels, 1, act = hardsigmoid) }",
    "mul {\n    identity\n    avgpool(global) -> conv(make_divisible(in_channels / 4, 2), 1)"
    "\n        -> conv(in_channels, 1, act = sigmoid)\n}",
]
#: Ops that leave the image world: rare in the middle of a pipeline, common at an output's end.
_HEADS = [
    "",
    "",
    " -> avgpool(global) -> flatten -> linear(10)",
    " -> flatten",
    " -> flatten -> linear(width) -> softmax",
    " -> adaptive_avgpool(1) -> flatten -> fc(3)",
    " -> tokens -> class_token -> pos_embedding -> attention(1) -> select(0) -> linear(10)",
    " -> tokens -> layernorm -> linear(width, act = gelu) -> select",
    " -> avgpool(global) -> flatten -> layernorm -> slice(0, 2)",
]


@st.composite
def _int_expr(draw, params: tuple[str, ...]) -> str:
    numeric = [p for p in params if p not in ("act_op", "gate")]
    if "in_channels" not in params and draw(st.integers(0, 40)) == 20:  # rarely: 0 is common
        return "in_channels"  # outside a block body: a located error
    if numeric and draw(st.integers(0, 2)) == 0:
        return draw(st.sampled_from(_PARAM_EXPRS)).format(p=draw(st.sampled_from(numeric)))
    return draw(st.sampled_from(_INT_EXPRS))


@st.composite
def _op(draw, params: tuple[str, ...], blocks: tuple[str, ...]) -> str:
    kind = draw(st.integers(0, 21))
    if kind <= 8:
        kernel = draw(
            st.sampled_from(
                ["1", "1", "3", "3", "5", "1x7", "7x1", "(1, 3)", "2"] + ["0"] * (kind == 0)
            )
        )
        return f"conv({draw(_int_expr(params))}, {kernel}{draw(st.sampled_from(_CONV_OPTS))})"
    if kind == 9:
        return draw(st.sampled_from(["flatten", f"linear({draw(_int_expr(params))})"]))
    if kind in (10, 11) and blocks:
        call = f"{draw(st.sampled_from(blocks))}({draw(_int_expr(params))}"
        if draw(st.integers(0, 3)) == 0:  # a block or op bound to a parameter it may not have
            call += f", gate = {draw(st.sampled_from([*blocks, 'relu', 'identity']))}"
        return call + ")"
    if kind == 12 and "act_op" in params:
        return "act_op"
    if kind == 13 and "gate" in params:
        return "gate"
    if kind == 14:
        kernel = draw(st.sampled_from(["1", "2", "3", "2x3"]))
        opts = draw(st.sampled_from(_CONV_TRANSPOSE_OPTS))
        return f"conv_transpose({draw(_int_expr(params))}, {kernel}{opts})"
    if kind == 15:
        return draw(st.sampled_from(_GATES))
    return draw(st.sampled_from(_SIMPLE_OPS))


@st.composite
def _pipeline(draw, depth: int, params: tuple[str, ...], blocks: tuple[str, ...]) -> str:
    n = draw(st.integers(1, 3))
    elements = [draw(_element(depth, params, blocks)) for _ in range(n)]
    sep = draw(st.sampled_from([" -> ", " -> ", "\n        -> "]))
    return sep.join(elements)


@st.composite
def _element(draw, depth: int, params: tuple[str, ...], blocks: tuple[str, ...]) -> str:
    joins = ["concat", "add", "mul", "residual", "repeat", "group"]
    kinds = ["op"] * 6 + (joins if depth > 0 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "op":
        el = draw(_op(params, blocks))
    elif kind in ("concat", "add", "mul"):
        branches = []
        for i in range(draw(st.integers(1, 3))):
            label = f"br{i}: " if draw(st.integers(0, 2)) == 0 else ""
            branches.append(label + draw(_pipeline(depth - 1, params, blocks)))
        sep = draw(st.sampled_from(["; ", "\n    "]))
        el = (
            f"{kind} {{ {sep.join(branches)}; }}"
            if sep == "; "
            else f"{kind} {{\n    {sep.join(branches)}\n}}"
        )
    elif kind == "residual":
        scale = draw(st.sampled_from(["", "(scale = 0.2)", "(0.1)"]))
        el = f"residual{scale} {{ {draw(_pipeline(depth - 1, params, blocks))} }}"
    elif kind == "repeat":
        el = f"repeat({draw(st.integers(0, 3))}) {{ {draw(_pipeline(depth - 1, params, blocks))} }}"
    else:
        el = f"({draw(_pipeline(depth - 1, params, blocks))})"
    if draw(st.integers(0, 6)) == 0:
        el += f" as {draw(st.sampled_from(['n1', 'n2', 'named']))}"
    return el


@st.composite
def programs(draw) -> str:
    """A random program shaped by the grammar: mostly valid, sometimes wrong in a located way."""
    out = []
    blocks: list[str] = []
    for i in range(draw(st.integers(0, 2))):
        name = f"blk{i}"
        params = draw(
            st.sampled_from(
                [("c",), ("c", "k = 3"), ("c", "act_op = relu"), ("c", "gate = identity")]
            )
        )
        names = tuple(p.split(" ")[0] for p in params) + ("in_channels",)
        body = draw(_pipeline(2, names, tuple(blocks)))
        comment = draw(st.sampled_from(["", "  # a block", "\n# after"]))
        out.append(f"block {name}({', '.join(params)}) = {body}{comment}")
        blocks.append(name)
    for mi in range(draw(st.integers(1, 2))):
        stmts = []
        c, h = draw(st.integers(1, 8)), draw(st.integers(1, 24))
        shape = draw(st.sampled_from([f"{c}x{h}x{h}"] * 4 + [f"{c}x{h}x{h + 1}", f"{c * 4}"]))
        stmts.append(f"input x: {shape}")
        if draw(st.booleans()):
            stmts.append(
                draw(
                    st.sampled_from(
                        [
                            "defaults conv(act = relu)",
                            "defaults conv(bn = true, act = relu)",
                            "defaults maxpool(stride = 1)",
                        ]
                    )
                )
            )
        bound = ["x"]
        for i in range(draw(st.integers(0, 3))):
            name = f"t{i}"
            if len(bound) > 1 and draw(st.integers(0, 3)) == 0:
                join = draw(st.sampled_from(["concat", "add", "mul"]))
                start = f"{join}({', '.join(bound[-2:])})"
            else:
                start = draw(st.sampled_from(bound + ["undefined"] * (i == 2)))
            stmts.append(f"{name} = {start} -> {draw(_pipeline(1, ('width',), tuple(blocks)))}")
            bound.append(name)
        last = bound[-1]
        head = draw(st.sampled_from(_HEADS))
        stmts.append(f"output y = {last} -> {draw(_pipeline(1, ('width',), tuple(blocks)))}{head}")
        if draw(st.integers(0, 3)) == 0:
            stmts.append(f"aux z = {last} -> flatten weight 0.3")
        comments = draw(st.lists(st.sampled_from(["# note", "# another: -> { }"]), max_size=2))
        body = "\n    ".join(stmts + comments)
        out.append(
            f"model m{mi}(width = {draw(st.sampled_from(['8', '4', '16']))}) {{\n    {body}\n}}"
        )
    return "\n\n".join(out) + "\n"


# ---- mutations of the shipped files ------------------------------------------------------------
def _tokens(text: str) -> list[tuple[str, str]]:
    return [(t.type, t.value) for t in _parser().lex(text, dont_ignore=True)]


_SHIPPED = {p.name: _tokens(p.read_text(encoding="utf-8")) for p in bundled_architectures()}
_INSERTS = [
    "(",
    ")",
    "{",
    "}",
    "->",
    ",",
    ";",
    "=",
    ":",
    "as",
    "concat",
    "add",
    "residual",
    "repeat",
    "model",
    "block",
    "input",
    "output",
    "aux",
    "weight",
    "defaults",
    "x",
    "relu",
    "conv",
    "1",
    "3x3",
    '"nowhere.incept"',
    "import",
    "# c\n",
    "\n",
    "-",
    "*",
    "//",
    "flatten",
    "linear(10)",
    "expect(1x1x1)",
    "repeat(9999)",
]
_NUMBERS = [
    "0",
    "1",
    "2",
    "-1",
    "7",
    "1000000",
    "10000000000000",
    "0.5",
    "1e400",
    "3x3",
    "0x0",
    "99999999999999999999",
    "1x2x3",
    "(1, 2, 3)",
    "relu",
    "true",
]


@st.composite
def mutants(draw) -> str:
    name = draw(st.sampled_from(sorted(_SHIPPED)))
    toks = [v for _, v in _SHIPPED[name]]
    kinds = [k for k, _ in _SHIPPED[name]]
    for _ in range(draw(st.integers(1, 3))):
        if not toks:
            break
        i = draw(st.integers(0, len(toks) - 1))
        how = draw(
            st.sampled_from(
                ["delete", "duplicate", "swap", "number", "number", "insert", "truncate"]
            )
        )
        if how == "delete":
            del toks[i], kinds[i]
        elif how == "duplicate":
            toks.insert(i, toks[i])
            kinds.insert(i, kinds[i])
        elif how == "swap":
            j = min(len(toks) - 1, i + draw(st.integers(1, 8)))
            toks[i], toks[j] = toks[j], toks[i]
            kinds[i], kinds[j] = kinds[j], kinds[i]
        elif how == "number":
            nums = [k for k, kind in enumerate(kinds) if kind in ("NUMBER", "SHAPE")]
            if nums:
                k = draw(st.sampled_from(nums))
                toks[k] = draw(st.sampled_from(_NUMBERS))
        elif how == "insert":
            toks.insert(i, " " + draw(st.sampled_from(_INSERTS)) + " ")
            kinds.insert(i, "INSERT")
        else:
            del toks[i:], kinds[i:]
    return "".join(toks)


# ---- the tests ---------------------------------------------------------------------------------
@_settings(1200)
@given(mutants())
def test_mutated_architectures_fail_cleanly(tmp_path_factory, text: str) -> None:
    check_text(text, tmp_path_factory.getbasetemp())


@_settings(800)
@given(programs())
def test_generated_programs_check_or_fail_cleanly(tmp_path_factory, text: str) -> None:
    check_text(text, tmp_path_factory.getbasetemp())


@_settings(250)
@given(programs())
def test_formatting_generated_programs_keeps_their_meaning(tmp_path_factory, text: str) -> None:
    try:
        original = parse(text, "fuzz.incept")
    except InceptError:
        return
    out = format_text(text, "fuzz.incept")
    assert format_text(out, "fuzz.incept") == out
    assert ast_equal(original, parse(out, "fuzz.incept"))
    assert sorted(re.findall(r"#[^\n]*", out)) == sorted(
        c.rstrip() for c in re.findall(r"#[^\n]*", text)
    )
    base = tmp_path_factory.getbasetemp()
    assert check_text(out, base) == check_text(text, base)


@_settings(250)
@given(
    st.text(
        alphabet=st.sampled_from(list('(){}[]->=:;,.x0123456789 \n\t#"abcmodel_')), max_size=200
    )
)
def test_arbitrary_text_fails_cleanly(tmp_path_factory, text: str) -> None:
    check_text(text, tmp_path_factory.getbasetemp())
