"""`incept-dsl summary`: `--batch`, the format a file name's suffix names, and the names it
refuses (as `render` does: a usage error naming the suffixes it writes, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from incept_dsl.cli import main

MODEL = ["summary", "googlenet.incept", "--model", "googlenet_tv"]


def _json(capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    assert main([*MODEL, "--format", "json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_batch_scales_memory_not_params(capsys: pytest.CaptureFixture[str]) -> None:
    one, eight = _json(capsys), _json(capsys, "--batch", "8")
    assert (one["batch"], eight["batch"]) == (1, 8)
    for key in ("input_bytes", "peak_activation_bytes"):
        assert eight[key] == 8 * one[key]
    assert eight["total"]["memory_bytes"] == 8 * one["total"]["memory_bytes"]
    assert eight["total"]["params"] == one["total"]["params"]
    assert eight["param_bytes"] == one["param_bytes"] == 4 * one["trainable"]
    assert one["peak_activation_bytes"] < one["total"]["memory_bytes"]  # tensors are freed


def test_batch_is_in_the_text_header(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*MODEL, "--batch", "3", "--by", "block"]) == 0
    out = capsys.readouterr().out
    assert "batch 3" in out.splitlines()[0]
    assert "estimated total size:" in out and "memory at batch 3:" in out


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_a_bad_batch_is_a_usage_error(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*MODEL, "--batch", bad])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--batch" in err and "whole number >= 1" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("suffix", "starts", "holds"),
    [
        (".txt", "googlenet_tv: cost per layer", "\nname "),
        (".md", "googlenet_tv: cost per layer", "\n| name | op |"),
        (".csv", "name,op,part,", "\nconv1.conv,conv,main,"),
        (".tex", "\\begin{table}[htbp]", "\\toprule"),
        (".json", "{", '"peak_activation_bytes"'),
    ],
)
def test_the_suffix_names_the_format(
    suffix: str, starts: str, holds: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / f"table{suffix}"
    assert main([*MODEL, "-o", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith(starts) and holds in text
    said = capsys.readouterr().out
    assert ("\\usepackage{booktabs}" in said) == (suffix == ".tex")


@pytest.mark.parametrize("name", ["x.xlsx", "x.pdf", "x", "x.tex.bak"])
def test_unknown_suffixes_are_refused(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / name
    assert main([*MODEL, "-o", str(out)]) == 2  # the CLI's code for a usage error, as `render`
    err = capsys.readouterr().err
    assert ".txt, .md, .csv, .tex, .json" in err and "Traceback" not in err
    assert not out.exists()


def test_a_format_and_a_suffix_that_disagree_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.json"
    assert main([*MODEL, "--format", "latex", "-o", str(out)]) == 2
    assert "a latex table writes a file ending in .tex" in capsys.readouterr().err
    assert not out.exists()
