"""Blocks that nothing applies are checked too, without their arguments.

The class of fault: `block never_used(c) = frobnicate(c)` passed `check`. Now every block body
that a model does not elaborate — the file's, the model's own, an imported file's, or a file of
blocks alone — is checked without shapes for what does not depend on its arguments, and such a
mistake is an error (as a compiler reports a type error in an unused function). The check must be
sound: a property test asserts that it never reports a block that elaborates without error.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import incept_dsl
from incept_dsl.cli import main
from incept_dsl.errors import InceptError, InceptErrors
from incept_dsl.frontend.loader import Loader
from incept_dsl.ir.build import Elaborator, check_blocks
from incept_dsl.ir.elaborate_blocks import check_body
from incept_dsl.perf import ensure_recursion_limit
from incept_dsl.resources import bundled_architectures

ensure_recursion_limit()

_MODEL = "model m {\n    input x: 3x8x8\n    output y = x -> relu\n}\n"


def _errors(text: str) -> list[InceptError]:
    with pytest.raises(InceptError) as e:
        incept_dsl.loads(text, name="unused.incept")
    err = e.value
    return err.errors if isinstance(err, InceptErrors) else [err]


def test_the_example_of_the_issue() -> None:
    (err,) = _errors("block never_used(c) = frobnicate(c)\n" + _MODEL)
    assert err.message == "unknown op or block 'frobnicate'"
    assert (err.line, err.column) == (1, 23)
    assert err.notes[-1].message == (
        "in block 'never_used', checked without its arguments: model 'm' does not apply it"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("frobnicate", "unknown op or block 'frobnicate'"),
        ("conv(c, 3, stide = 2)", "'conv' has no parameter 'stide'"),
        ("relu(c)", "'relu' takes at most 0 positional arguments; got 1"),
        ("conv(c, 0)", "conv's 'kernel' must be at least 1; got 0"),
        ("bn(eps = 0)", "batchnorm's 'eps' must be positive"),
        ("conv(c, 3, act = rleu)", "conv's 'act' must be one of"),
        ("dropout(c / 0)", "division by zero"),
        ("conv(c, 3) -> concat(a, b)", "concat(a, b) joins bound tensors"),
        ("other(c, q = 1)", "'other' has no parameter 'q'"),
        ("other", "block 'other' needs a value for its parameter 'c'"),
        ("repeat(20000) { relu }", "repeat(20000) is more than the limit"),
        ("repeat(0) { covn }", "unknown op or block 'covn'"),
        ("expect(3x0x8)", "an expected dimension must be at least 1"),
        ("residual(scale = relu) { relu }", "residual scale must be a number"),
        ("conv(c, 3, max(c, wdith))", "unknown name 'wdith' in arithmetic"),
    ],
)
def test_what_an_unused_block_body_is_checked_for(body: str, message: str) -> None:
    errors = _errors(f"block other(c) = relu\nblock b(c) = {body}\n" + _MODEL)
    assert [e.message for e in errors if message in e.message], [e.message for e in errors]
    assert all(e.line == 2 for e in errors)


@pytest.mark.parametrize(
    "body",
    [
        "conv(c, k)",  # values that depend on parameters are not known yet
        "conv(c, 3) -> dropout(c) -> repeat(c) { relu } -> softmax(dim = c)",
        "act(c)",  # a parameter naming an op or block
        "conv(c, 3) -> linear(c)",  # a shape mistake needs shapes
        "conv(c, 3) -> expect(99x1x1)",
        "conv",  # a model's `defaults` may supply the required arguments
        "other(k = 2)",  # ... and a block's default is used
    ],
)
def test_what_depends_on_the_arguments_or_shapes_is_not_reported(body: str) -> None:
    text = f"block other(k = 1) = relu\nblock b(c, k = 3, act = relu) = {body}\n" + _MODEL
    assert incept_dsl.loads(text).outputs == {"y": (3, 8, 8)}


def test_a_model_block_is_checked_against_the_models_defaults_and_tensors() -> None:
    errors = _errors(
        "model m {\n    input x: 3x8x8\n    block b = conv(8) -> x\n    output y = x -> relu\n}\n"
    )
    assert [e.message.split(";")[0] for e in errors] == [
        "'conv' needs its argument 'kernel'",
        "'x' is a tensor, not an op",
    ]
    ok = "model m {\n defaults conv(kernel = 3)\n input x: 3x8x8\n block b = conv(8)\n output y = x }"
    incept_dsl.loads(ok)


def test_a_model_parameter_is_known_in_its_blocks() -> None:
    (err,) = _errors("model m(k = 0) {\n input x: 3x8x8\n block b = conv(8, k)\n output y = x }")
    assert err.message == "conv's 'kernel' must be at least 1; got 0"


def test_blocks_of_an_imported_file_are_checked(tmp_path: Path) -> None:
    (tmp_path / "lib.incept").write_text("block good(c) = conv(c, 3)\nblock bad = covn\n")
    main_file = tmp_path / "main.incept"
    main_file.write_text('import "lib.incept"\n' + _MODEL.replace("relu", "good(8)"))
    with pytest.raises(InceptError) as e:
        incept_dsl.load(main_file)
    assert e.value.message == "unknown op or block 'covn'"
    assert e.value.span.file.endswith("lib.incept")


def test_a_file_of_blocks_alone_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    lib = tmp_path / "lib.incept"
    lib.write_text("block stem(c) = conv(c, 3, strides = 2)\nblock head = liner(10)\n")
    with pytest.raises(InceptErrors) as e:
        incept_dsl.load_all(lib)
    assert [err.line for err in e.value.errors] == [1, 2]
    assert main(["check", str(lib)]) == 1
    assert "has no parameter 'strides'" in capsys.readouterr().err
    lib.write_text("block stem(c) = conv(c, 3, stride = 2)\n")
    assert incept_dsl.load_all(lib) == []


def test_a_block_used_by_one_model_only_is_reported_once(tmp_path: Path) -> None:
    path = tmp_path / "two.incept"
    path.write_text(
        "block b = conv(8, 3) -> covn\n"
        "model one {\n input x: 3x8x8\n output y = x -> b }\n"
        "model two {\n input x: 3x8x8\n output y = x }\n"
    )
    with pytest.raises(InceptError) as e:
        incept_dsl.load_all(path)
    assert not isinstance(e.value, InceptErrors)
    assert e.value.message == "unknown op or block 'covn'"


@pytest.mark.parametrize("path", bundled_architectures(), ids=lambda p: p.stem)
def test_every_shipped_block_passes_the_check_without_arguments(path: Path) -> None:
    check_blocks(Loader().load_path(path))


# ---- soundness: a block that elaborates is never reported ---------------------------------------
def _programs():
    from test_fuzz import programs  # the grammar-driven generator of the fuzz tests

    return programs()


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(_programs())
def test_a_block_that_elaborates_passes_the_check_without_arguments(text: str) -> None:
    try:
        unit = Loader().load_text(text, "sound.incept", Path.cwd())
    except InceptError:
        return
    for m in unit.program.models:
        e = Elaborator(unit, m, None, None)
        try:
            e.build()
        except InceptError:
            continue
        entries = {**unit.blocks.table}
        for entry in entries.values():
            if entry.key in e.entered:  # it elaborated without error with some arguments
                assert check_body(entry, None, (), "") == [], entry.defn.name
