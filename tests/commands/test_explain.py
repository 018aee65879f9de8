"""`compile --explain` / `-v`: per pass, what it changed and why siblings were left (golden)."""

from __future__ import annotations

from pathlib import Path

import pytest

import incept_dsl
from incept_dsl.cli import main
from incept_dsl.commands.explain import explain

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "explain"

CASES = {
    "googlenet_tv_O2.txt": ("googlenet.incept", "googlenet_tv", 2, False),
    "inception_v3_O1_keep_aux.txt": ("inception_v3.incept", "inception_v3", 1, True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case, update_goldens):
    file, name, level, keep_aux = CASES[case]
    m = incept_dsl.load(file, model=name)
    text = explain(m, level, keep_aux) + "\n"
    path = GOLDEN / case
    if update_goldens:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{case} changed (--update-goldens)"


def test_cli_explain_prints_the_report_before_writing(tmp_path, capsys):
    out = tmp_path / "g.py"
    assert (
        main(
            [
                "compile",
                "googlenet.incept",
                "--model",
                "googlenet",
                "--to",
                "torch",
                "-O1",
                "-v",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert text.startswith("-O1 on googlenet (159 nodes):")
    assert "  merge-sibling-convs: changed (142 -> 133 nodes)" in text
    assert "removed aux heads aux1, aux2" in text
    # the merged conv lives in the block class, at the merged scope (inception_3a.merged_1)
    assert "self.merged_1.conv = nn.Conv2d(" in out.read_text()


def test_O0_explains_that_nothing_runs():
    m = incept_dsl.load("googlenet.incept", model="googlenet")
    assert explain(m, 0) == "-O0: no optimisation passes run on googlenet (159 nodes)"


def test_onnx_explain_names_what_its_runtime_does_itself(tmp_path, capsys):
    """`--to onnx` explains the ONNX pipeline at its default level (-O1): no sibling merging."""
    out = tmp_path / "g.onnx"
    argv = ["compile", "googlenet.incept", "--model", "googlenet_tv", "--to", "onnx", "-v"]
    assert main([*argv, "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("-O1 on googlenet_tv")
    assert "merge-sibling-convs:" not in text
    assert "(skipped merge-sibling-convs, cancel-split-concat: --to onnx's runtime" in text
