"""`--set NAME=VALUE` (`incept_dsl.param_kinds`): a value of the wrong kind for the parameter's
default is a usage error (exit 2) naming the parameter; every fitting value still works."""

from __future__ import annotations

from pathlib import Path

import pytest

import incept_dsl
from incept_dsl.cli import main
from incept_dsl.errors import UsageError

PROGRAM = """model m(classes = 10, width = 1.0, bn = true, k = 3, size = 8x8, act = relu, pad) {
    input image: 3x16x16
    output y = image -> conv(int(8 * width), k, padding = pad, bn = bn, act = act)
                     -> avgpool(size) -> flatten -> linear(classes)
}
"""


@pytest.fixture
def prog(tmp_path: Path) -> Path:
    p = tmp_path / "m.incept"
    p.write_text(PROGRAM)
    return p


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("classes=ten", "a number or a shape"),
        ("classes=true", "a number or a shape"),
        ("width=relu", "a number or a shape"),
        ("bn=1", "a boolean"),
        ("bn=yes", "a boolean"),
        ("size=same", "a number or a shape"),
    ],
)
@pytest.mark.parametrize("command", ["check", "summary"])
def test_a_value_of_the_wrong_kind_is_a_usage_error(
    prog: Path, setting: str, expected: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    name = setting.split("=")[0]
    assert main([command, str(prog), "--set", "pad=1", "--set", setting]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"incept-dsl {command}: error: --set {name}: ")
    assert f"'{name}'" in err and expected in err


@pytest.mark.parametrize(
    "settings",
    [
        ["classes=5"],
        ["width=2"],
        ["width=0.5"],
        ["bn=false"],
        ["k=(1, 3)"],
        ["k=3x3"],
        ["size=(8, 8)"],
        ["size=8"],
        ["act=gelu"],
        ["pad=same"],
        ["pad=1"],
        ["pad=(1, 1)"],
    ],
)
def test_values_that_fit_still_work(
    prog: Path, settings: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    extra = [] if any(s.startswith("pad=") for s in settings) else ["--set", "pad=1"]
    args = [a for s in settings for a in ("--set", s)]
    assert main(["check", str(prog), *extra, *args]) == 0, capsys.readouterr().err


def test_the_api_raises_the_same_usage_error(prog: Path) -> None:
    with pytest.raises(UsageError, match="'classes'"):
        incept_dsl.load(prog, params={"classes": "ten", "pad": 1})
    assert incept_dsl.load(prog, params={"classes": "7", "pad": 1}).outputs == {"y": (7,)}
