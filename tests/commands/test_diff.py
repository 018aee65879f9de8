"""`incept-dsl diff`: which two models the arguments name, and its usage errors."""

from __future__ import annotations

import pytest

import incept_dsl
from incept_dsl.cli import main


def test_two_models_of_one_file(capsys) -> None:
    assert main(["diff", "resnet.incept", "-m", "resnet18", "-m", "resnet34"]) == 0
    out = capsys.readouterr().out
    a = incept_dsl.load("resnet.incept", model="resnet18")
    b = incept_dsl.load("resnet.incept", model="resnet34")
    assert out == a.diff(b)
    assert out.startswith("resnet18 vs resnet34\n")


def test_two_files_and_the_same_model_name(tmp_path, capsys) -> None:
    for name, width in (("a", 8), ("b", 16)):
        (tmp_path / f"{name}.incept").write_text(
            f"model m {{\n    input x: 3x8x8\n    output y = x -> conv({width}, 3)\n}}\n"
        )
    assert main(["diff", str(tmp_path / "a.incept"), str(tmp_path / "b.incept")]) == 0
    out = capsys.readouterr().out
    assert "a.incept:m vs " in out.splitlines()[0] and "b.incept:m" in out.splitlines()[0]
    assert "~ conv_1: 3×3 Conv, 8  8×8×8 -> 3×3 Conv, 16  16×8×8" in out
    assert main(["diff", str(tmp_path / "a.incept"), str(tmp_path / "a.incept"), "-O1"]) == 0
    assert "no structural difference" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["resnet.incept"], "with one file, name both"),
        (["resnet.incept", "-m", "resnet18"], "with one file, name both"),
        (["resnet.incept", "vgg.incept", "-m", "vgg11"], "for each (twice) or for neither"),
        (["a", "b", "c"], "at most two files"),
    ],
)
def test_usage_mistakes_exit_2(argv, message, capsys) -> None:
    assert main(["diff", *argv]) == 2
    assert message in capsys.readouterr().err


def test_an_unknown_model_is_a_clear_error(capsys) -> None:
    assert main(["diff", "resnet.incept", "-m", "resnet18", "-m", "resnet19"]) != 0
    err = capsys.readouterr().err
    assert "resnet19" in err and "Traceback" not in err
