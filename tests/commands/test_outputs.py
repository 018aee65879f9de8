"""Every command that writes (`compile`, `summary -o`, `render`, `fmt`): never over an input, the
file name fits the format, bad paths are usage errors (exit 2) naming the path, writes are atomic.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from incept_dsl.cli import main

TINY = """model tiny(classes = 10) {
    input image: 3x16x16
    output logits = image -> blk(8) -> avgpool(global) -> flatten -> linear(classes)
}
"""
LIB = "block blk(c) = conv(c, 3) -> relu\n"


@pytest.fixture
def prog(tmp_path: Path) -> Path:
    (tmp_path / "lib.incept").write_text(LIB)
    p = tmp_path / "tiny.incept"
    p.write_text('import "lib.incept"\n' + TINY)
    return p


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    rc = main(list(args))
    return rc, capsys.readouterr().err


#: each command that writes, and a file name ending it accepts
WRITERS = [
    (["compile", "--to", "json"], ".json"),
    (["compile", "--to", "torch"], ".py"),
    (["compile", "--to", "summary"], ".csv"),
    (["compile", "--to", "dot"], ".dot"),
    (["summary"], ".md"),
    (["render"], ".svg"),
]
_ids = [" ".join(c) for c, _ in WRITERS]


@pytest.mark.parametrize(("command", "suffix"), WRITERS, ids=_ids)
@pytest.mark.parametrize("victim", ["tiny.incept", "lib.incept"])
def test_no_command_writes_over_an_input(
    prog: Path, command: list[str], suffix: str, victim: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = prog.parent / victim
    before = target.read_bytes()
    rc, err = _run(capsys, command[0], str(prog), *command[1:], "-o", str(target))
    assert rc == 2, err
    if command[0] == "render":  # render checks the figure format before it loads the program
        assert "cannot tell the figure format" in err
    else:
        assert "it is an input file" in err and str(target) in err
    assert target.read_bytes() == before


def test_a_link_to_an_input_is_an_input(prog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.link(prog, prog.parent / "hard.json")
    (prog.parent / "soft.json").symlink_to(prog.parent / "lib.incept")
    for name in ("hard.json", "soft.json"):
        rc, err = _run(capsys, "compile", str(prog), "--to", "json", "-o", str(prog.parent / name))
        assert rc == 2 and "input file" in err
    assert (prog.parent / "lib.incept").read_text() == LIB


@pytest.mark.parametrize(
    ("args", "accepted"),
    [
        (["compile", "--to", "png", "-o", "x.svg"], ".png"),
        (["compile", "--to", "torch", "-o", "x.json"], ".py"),
        (["compile", "--to", "onnx", "-o", "x.pb"], ".onnx"),
        (["compile", "--to", "summary", "-o", "x.xlsx"], ".txt, .md, .csv, .tex, .json"),
        (["summary", "-o", "x.xlsx"], ".txt, .md, .csv, .tex, .json"),
        (["summary", "--format", "text", "-o", "x.xlsx"], ".txt"),
        (["summary", "--format", "csv", "-o", "x.md"], ".csv"),
        (["render", "-o", "x.jpg"], ".svg"),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, list) else a,
)
def test_the_file_name_must_fit_the_format(
    prog: Path,
    args: list[str],
    accepted: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(prog.parent)
    rc, err = _run(capsys, args[0], str(prog), *args[1:])
    assert rc == 2, err
    assert accepted in err
    assert not any(p.name.startswith("x.") for p in prog.parent.iterdir())


@pytest.mark.parametrize(("command", "suffix"), WRITERS, ids=_ids)
def test_a_folder_as_output_is_a_usage_error(
    prog: Path, command: list[str], suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = prog.parent / f"out{suffix}"
    folder.mkdir()
    rc, err = _run(capsys, command[0], str(prog), *command[1:], "-o", str(folder))
    assert rc == 2 and "is a directory" in err and str(folder) in err


@pytest.mark.parametrize(("command", "suffix"), WRITERS, ids=_ids)
def test_a_path_under_a_file_is_a_usage_error(
    prog: Path, command: list[str], suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, err = _run(
        capsys,
        command[0],
        str(prog),
        *command[1:],
        "-o",
        str(prog.parent / "lib.incept" / "sub" / f"x{suffix}"),
    )
    assert rc == 2 and "lib.incept" in err and "not a folder" in err


@pytest.mark.parametrize(("command", "suffix"), WRITERS, ids=_ids)
def test_dev_full_is_a_usage_error(
    prog: Path, command: list[str], suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("/dev/full does not exist on this system")
    rc, err = _run(capsys, command[0], str(prog), *command[1:], "-o", "/dev/full")
    assert rc == 2 and "/dev/full" in err and "internal error" not in err


def test_missing_folders_are_made(prog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = prog.parent / "new" / "deeper" / "t.csv"
    assert main(["summary", str(prog), "-o", str(out)]) == 0
    assert out.read_text()


def test_an_interrupted_onnx_export_leaves_the_old_file(
    prog: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("onnx")
    out = prog.parent / "tiny.onnx"
    out.write_bytes(b"the previous export")

    def interrupted(*args: object) -> bytes:
        raise KeyboardInterrupt  # as Ctrl-C in the middle of writing the initializers

    monkeypatch.setattr("incept_dsl.backends.onnx.file.tensor_header", interrupted)
    assert main(["compile", str(prog), "--to", "onnx", "-o", str(out)]) == 130
    assert out.read_bytes() == b"the previous export"
    assert [p.name for p in prog.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_fmt_rewrites_in_place_atomically(tmp_path: Path) -> None:
    p = tmp_path / "m.incept"
    p.write_text("model m{input x:3x8x8\noutput y=x->relu}\n")
    p.chmod(0o600)
    assert main(["fmt", str(p)]) == 0
    assert p.read_text().startswith("model m {\n")
    assert (p.stat().st_mode & 0o777) == 0o600
    assert [q.name for q in tmp_path.iterdir()] == ["m.incept"]
