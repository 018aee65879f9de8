"""Golden diagnostics: every `tests/diagnostics/*.incept` is a mistake; `incept-dsl check` of it
must print exactly the `.expected` file beside it (stdout, stderr, then `[exit N]`).

A case starts with `# <title>`; a second line `# args: ...` adds command-line arguments. Helper
files that cases import live in `helpers/` (not cases themselves). Regenerate the goldens with
`pytest tests/diagnostics --update-goldens` and review the diff.

The other tests here cover what a golden file cannot hold: 10,000-deep input, huge files, and the
rules for reporting several errors at once.
"""

from __future__ import annotations

import re
import shlex
import time
from pathlib import Path

import pytest

import incept_dsl
from incept_dsl.cli import main
from incept_dsl.errors import InceptError, InceptErrors, InceptLimitError, InceptSyntaxError
from incept_dsl.frontend.parser import MAX_NESTING, MAX_SOURCE_CHARS, parse

HERE = Path(__file__).resolve().parent
CASES = sorted(HERE.glob("*.incept"))


def _args(case: Path) -> list[str]:
    lines = case.read_bytes().decode("utf-8", "replace").splitlines()[:2]
    for line in lines:
        if line.startswith("# args:"):
            return shlex.split(line.removeprefix("# args:"))
    return []


def _run_check(case: Path, capsys: pytest.CaptureFixture[str]) -> str:
    try:
        rc = main(["check", case.name, *_args(case)])
    except SystemExit as exc:  # argparse usage errors
        rc = exc.code
    out = capsys.readouterr()
    return f"{out.out}{out.err}[exit {rc}]\n"


def test_there_are_cases() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_diagnostic_matches_golden(
    case: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    update_goldens: bool,
) -> None:
    monkeypatch.chdir(HERE)
    got = _run_check(case, capsys)
    golden = case.with_suffix(".expected")
    if update_goldens:
        golden.write_text(got, encoding="utf-8")
    assert golden.exists(), f"no golden for {case.name}; run pytest --update-goldens"
    assert got == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_diagnostic_is_located_and_never_a_traceback(
    case: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(HERE)
    got = _run_check(case, capsys)
    assert "Traceback" not in got and "internal error" not in got
    assert "__ANON" not in got and "RPAR" not in got and "LPAR" not in got
    exit_code = int(got.rsplit("[exit ", 1)[1].rstrip("]\n"))
    assert exit_code in (1, 2)
    if exit_code == 1:  # a program error: every error names file:line:col and shows a caret
        heads = re.findall(r"^(\S+):(\d+):(\d+): error: ", got, flags=re.M)
        assert heads, got
        assert got.count("error:") == len(heads)
        for file, line, col in heads:
            text = (HERE / file).read_bytes().decode("utf-8", "replace")
            lines = text.splitlines() or [""]
            assert 1 <= int(line) <= len(lines)
            assert 1 <= int(col) <= len(lines[int(line) - 1]) + 1
        assert "^" in got
    else:  # a usage error: one line, no source excerpt
        assert got.startswith("incept-dsl check: error: ")


# ---- limits: clean errors, no recursion errors, no hangs --------------------------------------
def test_ten_thousand_nested_parentheses_are_a_limit_error() -> None:
    text = (
        "model m(a = " + "(" * 10_000 + "1" + ")" * 10_000 + ") { input x: 3x8x8\n output y = x }"
    )
    with pytest.raises(InceptLimitError, match=f"nest more than {MAX_NESTING} deep") as e:
        parse(text, "deep.incept")
    assert (e.value.line, e.value.column) == (1, 12 + MAX_NESTING)  # `m(` opens the first


@pytest.mark.parametrize(
    "text",
    [
        "model m(a = " + "-" * 10_000 + "1) { input x: 3x8x8\n output y = x }",
        "model m(a = " + "+".join(["1"] * 10_000) + ") { input x: 3x8x8\n output y = x }",
        "model m(a = " + "*".join(["(1)"] * 10_000) + ") { input x: 3x8x8\n output y = x }",
    ],
    ids=["unary", "sum", "product"],
)
def test_ten_thousand_operators_are_a_limit_error(text: str) -> None:
    with pytest.raises(InceptLimitError, match="operators deep") as e:
        incept_dsl.loads(text, name="ops.incept")
    assert e.value.line == 1


@pytest.mark.parametrize(
    "wrap",
    [
        ("(", ")"),
        ("concat { ", " }"),
        ("residual { ", " }"),
        ("repeat(1) { ", " }"),
    ],
    ids=["group", "concat", "residual", "repeat"],
)
def test_nesting_up_to_the_limit_compiles(wrap: tuple[str, str]) -> None:
    depth = MAX_NESTING - 1  # the model's braces count too
    body = wrap[0] * depth + "relu" + wrap[1] * depth
    m = incept_dsl.loads(f"model m {{ input x: 3x8x8\n output y = x -> {body} }}")
    assert m.outputs == {"y": (3, 8, 8)}


def test_block_chains_past_the_limit_are_an_error() -> None:
    blocks = "\n".join(f"block b{i} = b{i + 1}" for i in range(300)) + "\nblock b300 = relu\n"
    with pytest.raises(InceptLimitError, match="blocks nest more than"):
        incept_dsl.loads(blocks + "model m { input x: 3x8x8\n output y = x -> b0 }")


def test_a_huge_file_is_refused_before_parsing() -> None:
    text = "# " + "x" * MAX_SOURCE_CHARS + "\n"
    start = time.perf_counter()
    with pytest.raises(InceptLimitError, match="characters long"):
        parse(text, "huge.incept")
    assert time.perf_counter() - start < 5  # refused by a length check, not by parsing


def test_a_huge_number_literal_is_an_error_not_a_crash() -> None:
    # Python refuses int() of more than 4,300 digits; the parser must not get that far
    with pytest.raises(InceptLimitError, match="too large") as e:
        parse("model m(a = " + "9" * 50_000 + ") {}", "n.incept")
    assert (e.value.line, e.value.column) == (1, 13)


# ---- several errors at once -------------------------------------------------------------------
def _errors(text: str) -> list[InceptError]:
    with pytest.raises(InceptError) as e:
        incept_dsl.loads(text, name="multi.incept")
    err = e.value
    return err.errors if isinstance(err, InceptErrors) else [err]


def test_statements_that_read_a_failed_binding_are_not_reported() -> None:
    errors = _errors("""model m {
        input x: 3x8x8
        a = x -> covn(8, 3)
        b = a -> conv(8, 3) -> linear(3)
        c = b -> relu
        d = concat(x, c)
        output y = x -> relu -> lineaar(3)
    }""")
    assert [(e.line, e.message.split("'")[1]) for e in errors] == [(3, "covn"), (7, "lineaar")]


def test_rebinding_a_failed_name_is_still_bound_twice() -> None:
    errors = _errors("""model m {
        input x: 3x8x8
        a = x -> covn(8, 3)
        a = x -> relu
        output y = a
    }""")
    assert [e.line for e in errors] == [3, 4]
    assert "bound twice" in errors[1].message


def test_errors_come_in_source_order_once_each(tmp_path: Path) -> None:
    # the same block body fails in two models: reported once, at the block
    path = tmp_path / "two.incept"
    path.write_text(
        """block bad = conv(8, 3) -> lineaar(2)
    model one { input x: 3x8x8
        output y = x -> bad }
    model two { input x: 3x8x8
        output y = x -> covn(1, 1) -> bad }""",
        encoding="utf-8",
    )
    with pytest.raises(InceptErrors) as e:
        incept_dsl.load_all(path)
    assert [err.line for err in e.value.errors] == [1, 5]
    text = e.value.render()
    assert text.endswith("2 errors")
    assert text.index("lineaar") < text.index("covn")


def test_bad_defaults_stop_before_statements() -> None:
    # statements would be checked against the wrong defaults: only the defaults are reported
    errors = _errors("""model m {
        defaults conv(padding = vaild)
        defaults maxpool(sride = 2)
        input x: 3x8x8
        output y = x -> conv(8, 3) -> expect(8x8x8)
    }""")
    assert [e.line for e in errors] == [2, 3]


def test_one_error_is_not_wrapped() -> None:
    (err,) = _errors("model m { input x: 3x8x8\n output y = x -> covn }")
    assert not isinstance(err, InceptErrors)


def test_syntax_error_is_reported_alone() -> None:
    with pytest.raises(InceptSyntaxError):
        incept_dsl.loads("model m { input x: 3x8x8\n a = x -> covn\n output y = x -> (relu }")
