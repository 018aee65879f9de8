"""The formatter (`incept_dsl/fmt.py`, `incept-dsl fmt`): canonical, idempotent, parse-preserving,
comment-preserving. Fuzzed programs are formatted in `tests/test_fuzz.py`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from incept_dsl.cli import main
from incept_dsl.errors import InceptSyntaxError
from incept_dsl.fmt import LINE_WIDTH, ast_equal, format_text
from incept_dsl.frontend.parser import parse
from incept_dsl.resources import bundled_architectures

GOLDEN = Path(__file__).resolve().parent / "golden" / "fmt"
SHIPPED = bundled_architectures()


def _comments(text: str) -> list[str]:
    return [m.group().rstrip() for m in re.finditer(r"#[^\n]*", text)]


def _check_properties(text: str, name: str = "t.incept") -> str:
    out = format_text(text, name)
    assert format_text(out, name) == out, "formatting is not idempotent"
    assert ast_equal(parse(text, name), parse(out, name)), "formatting changed the program"
    assert sorted(_comments(out)) == sorted(_comments(text)), "a comment was lost or changed"
    return out


def test_shipped_architectures_exist() -> None:
    assert len(SHIPPED) >= 5


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_files_format_idempotently_and_keep_their_meaning(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    out = _check_properties(text, path.name)
    assert all(not line.endswith(" ") for line in out.splitlines())
    assert out == text, f"{path.name} is not in canonical form: run `incept-dsl fmt {path}`"


@pytest.mark.parametrize("case", sorted(GOLDEN.glob("*.incept")), ids=lambda p: p.stem)
def test_golden_formatting(case: Path, update_goldens: bool) -> None:
    out = _check_properties(case.read_text(encoding="utf-8"), case.name)
    golden = case.with_suffix(".expected")
    if update_goldens:
        golden.write_text(out, encoding="utf-8")
    assert out == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "model m(a=(1+2)*3,b=1-(2-3),c=-(-1),d=(1,),e=1e-3,f=2*-1){input x:3x8x8\noutput y=x}",
            "model m(a = (1 + 2) * 3, b = 1 - (2 - 3), c = - -1, d = (1,), e = 1e-3, f = 2 * -1) {\n"
            "    input x: 3x8x8\n    output y = x\n}\n",
        ),
        ("block b = concat { relu; (relu) }\n", "block b = concat { relu; (relu) }\n"),
        (
            "block b = concat {\nrelu\n;(relu)\n}\n",
            "block b = concat {\n    relu;\n    (relu)\n}\n",
        ),
        (
            "block b=residual(scale=0.2){relu}->repeat(2){relu}\n",
            "block b = residual(scale = 0.2) { relu } -> repeat(2) { relu }\n",
        ),
        ("block b = relu -> relu\n-> relu\n", "block b = relu -> relu\n    -> relu\n"),
        (
            "block a = relu\n\n\n\nblock b = relu\nblock c = relu\n",
            "block a = relu\n\nblock b = relu\nblock c = relu\n",
        ),
    ],
    ids=["expressions", "inline-semicolon", "multiline-semicolon", "bodies", "breaks", "blanks"],
)
def test_canonical_layout(text: str, expected: str) -> None:
    assert _check_properties(text) == expected


def test_long_pipelines_break_before_arrows() -> None:
    text = "block b = " + " -> ".join(f"conv({i}, 3)" for i in range(1, 40)) + "\n"
    out = _check_properties(text)
    lines = out.splitlines()
    assert len(lines) > 3
    assert all(len(line) <= LINE_WIDTH for line in lines)
    assert all(line.startswith("    -> ") for line in lines[1:])


def test_comments_stay_with_their_code() -> None:
    text = """# file
model m {  # opens
    input x: 3x8x8   # the input
    # about y
    y = x
        # before relu
        -> relu  # after relu
    output o = y
    # closing
}
"""
    out = _check_properties(text)
    assert (
        out
        == """# file
model m {  # opens
    input x: 3x8x8  # the input
    # about y
    y = x
        # before relu
        -> relu  # after relu
    output o = y
    # closing
}
"""
    )


def test_a_file_that_does_not_parse_is_an_error() -> None:
    with pytest.raises(InceptSyntaxError):
        format_text("model m { input x: }")


def test_empty_and_comment_only_files() -> None:
    assert format_text("") == ""
    assert format_text("\n\n# just a note   \n\n") == "# just a note\n"


# ---- the command ------------------------------------------------------------------------------
def test_fmt_command_rewrites_checks_and_diffs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "m.incept"
    path.write_text("model m{input x:3x8x8\noutput y=x->relu}\n", encoding="utf-8")
    assert main(["fmt", str(path), "--check"]) == 1
    assert "would reformat" in capsys.readouterr().err
    assert main(["fmt", str(path), "--diff"]) == 0
    assert "+    output y = x -> relu" in capsys.readouterr().out
    assert main(["fmt", str(path), "--stdout"]) == 0
    printed = capsys.readouterr().out
    assert path.read_text(encoding="utf-8") != printed  # --stdout and --diff write nothing
    assert main(["fmt", str(path)]) == 0
    assert path.read_text(encoding="utf-8") == printed
    assert main(["fmt", str(path), "--check"]) == 0


def test_fmt_command_reports_syntax_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.incept"
    path.write_text("model m { input x 3x8x8 }\n", encoding="utf-8")
    assert main(["fmt", str(path)]) == 1
    assert "bad.incept:1:19: error:" in capsys.readouterr().err
    assert path.read_text(encoding="utf-8") == "model m { input x 3x8x8 }\n"
    assert main(["fmt", str(tmp_path / "missing.incept")]) == 2


def test_trailing_expects_of_a_statement_line_up() -> None:
    text = """model m {
    input x: 3x32x32
    y = x
        -> conv(8, 3) -> expect(8x32x32)
        -> maxpool(2) -> conv(16, 3, stride = 2)      -> expect(16x8x8)
        -> relu
    output o = y -> flatten -> expect(1024)
}
"""
    out = _check_properties(text)
    assert (
        """    y = x
        -> conv(8, 3)                            -> expect(8x32x32)
        -> maxpool(2) -> conv(16, 3, stride = 2) -> expect(16x8x8)
        -> relu
    output o = y -> flatten -> expect(1024)
"""
        in out
    )


def test_mul_joins_round_trip() -> None:
    """`mul { }` / `mul(a, b)` lay out as `add` and `concat` do; `mul` as a name (a block, a
    tensor, a label) stays a name, with the `;` a branch needs before `(`."""
    text = (
        "block se(ratio=4)=mul{identity\navgpool(global)->conv(make_divisible(in_channels/ratio),"
        "1,act=relu)->conv(in_channels,1,act=hardsigmoid)}\nblock mul=relu\n"
        "model m{input x:3x8x8\nmul=x->conv(4,1)->se\n"
        "a=mul->mul{mul:identity;g:avgpool(global)->sigmoid;mul\n;(relu)} as gate\n"
        "output y=mul(a,mul,)->mul{relu;sigmoid}}\n"
    )
    assert _check_properties(text) == (
        "block se(ratio = 4) = mul {\n"
        "    identity\n"
        "    avgpool(global) -> conv(make_divisible(in_channels / ratio), 1, act = relu)\n"
        "        -> conv(in_channels, 1, act = hardsigmoid)\n"
        "}\n"
        "block mul = relu\n"
        "\n"
        "model m {\n"
        "    input x: 3x8x8\n"
        "    mul = x -> conv(4, 1) -> se\n"
        "    a = mul -> mul {\n"
        "        mul: identity\n"
        "        g: avgpool(global) -> sigmoid\n"
        "        mul;\n"
        "        (relu)\n"
        "    } as gate\n"
        "    output y = mul(a, mul) -> mul { relu; sigmoid }\n"
        "}\n"
    )
