"""The command line: check, compile --to torch, list; exit codes 0 / 1 / 2; no tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from incept_dsl.cli import main

TINY = """model tiny(classes = 10) {
    input image: 3x32x32
    defaults conv(act = relu)
    x = image -> conv(16, 3) -> maxpool(2)
    output logits = x -> avgpool(global) -> flatten -> linear(classes)
}
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.incept"
    p.write_text(TINY)
    return p


def test_check_prints_shapes_and_params(tiny, capsys):
    assert main(["check", str(tiny)]) == 0
    out = capsys.readouterr().out
    assert "model tiny" in out
    assert "image 3×32×32" in out and "logits 10" in out
    assert "params:  618" in out


def test_check_bundled_googlenet(capsys):
    assert main(["check", "googlenet.incept", "--model", "googlenet"]) == 0
    out = capsys.readouterr().out
    assert "aux1 1000 (weight 0.3)" in out
    assert "without aux heads" in out


def test_compile_torch_with_set_and_input(tiny, tmp_path, capsys):
    out = tmp_path / "gen" / "tiny.py"
    assert (
        main(
            [
                "compile",
                str(tiny),
                "--to",
                "torch",
                "-o",
                str(out),
                "--set",
                "classes=5",
                "--input",
                "3x64x64",
            ]
        )
        == 0
    )
    text = out.read_text()
    assert "class Tiny(nn.Module)" in text
    assert "nn.Linear(16, 5" in text
    assert "INPUT_SHAPES = ((3, 64, 64),)" in text
    assert "wrote" in capsys.readouterr().out


def test_compile_default_model_is_named_after_the_file(tmp_path, capsys):
    out = tmp_path / "g.py"
    assert main(["compile", "googlenet.incept", "--to", "torch", "-o", str(out)]) == 0
    assert "class Googlenet(nn.Module)" in out.read_text()


def test_program_error_exits_1_with_location(tmp_path, capsys):
    bad = tmp_path / "bad.incept"
    bad.write_text("model m {\n  input x: 3x8x8\n  output y = x -> covn(8, 3)\n}\n")
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:3:19: error: unknown op or block 'covn'" in err
    assert "^^^^" in err and "did you mean 'conv'?" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "args",
    [
        ["compile", "{f}", "--to", "torch", "--set", "classes"],
        ["compile", "{f}", "--to", "torch", "--set", "classes=(("],
        ["compile", "{f}", "--to", "torch", "--input", "3xAx4"],
        ["compile", "{f}", "--to", "torch", "--set", "nope=3"],
    ],
)
def test_usage_errors_exit_2(tiny, args, capsys):
    assert main([a.replace("{f}", str(tiny)) for a in args]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


@pytest.mark.parametrize("args", [["compile", "x.incept", "--to", "nothing"], ["frobnicate"]])
def test_argparse_usage_errors_exit_2(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2


def test_missing_file_exits_2(capsys):
    assert main(["check", "no/such/file.incept"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_list_shows_bundled(capsys):
    assert main(["list"]) == 0
    assert "googlenet.incept" in capsys.readouterr().out


def test_python_dash_m_and_console_script(tiny):
    r = subprocess.run(
        [sys.executable, "-m", "incept_dsl", "check", str(tiny)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert "logits 10" in r.stdout


def test_import_does_not_import_torch():
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import incept_dsl, incept_dsl.cli, sys; "
            "incept_dsl.load('googlenet.incept').torch_source(); "
            "print('torch' in sys.modules, 'onnx' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert r.stdout.split() == ["False", "False"]


def test_check_imports_only_what_it_needs():
    """`check` is the quick command (issue 18: under 0.3 s): it never imports numpy, torch, onnx,
    graphviz or networkx (the IR stays staged), nor the other subcommands' modules, nor the
    passes."""
    code = (
        "import sys; from incept_dsl.cli import main; "
        "rc = main(['check', 'architectures/segmentation.incept']); "
        "heavy = ('numpy', 'torch', 'onnx', 'graphviz', 'networkx', 'incept_dsl.commands.render', "
        "'incept_dsl.driver', 'incept_dsl.passes'); "
        "print(rc, *[m for m in heavy if m in sys.modules])"
    )
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert r.stdout.splitlines()[-1] == "0"


def test_check_reports_every_file_through_a_pipe(tmp_path):
    """`python -m incept_dsl check GOOD BAD` with its output piped: every model line arrives on
    stdout, the located error on stderr, and the exit code is 1."""
    bad = tmp_path / "bad.incept"
    bad.write_text("model m { input x: 3x8x8\n output y = x -> nope }\n")
    root = Path(__file__).resolve().parents[1]
    good = root / "architectures" / "segmentation.incept"
    r = subprocess.run(
        [sys.executable, "-m", "incept_dsl", "check", str(good), str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 1
    assert r.stdout.count(": model ") == 2 and r.stdout.endswith("without aux heads)\n")
    assert "bad.incept:2:" in r.stderr and "nope" in r.stderr
