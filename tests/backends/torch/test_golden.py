"""Golden generated PyTorch files: the readable `.py` that `compile --to torch` writes for the
paper GoogLeNet (-O0) and the torchvision-layout GoogLeNet (-O2), byte for byte. Regenerate with
`pytest tests/backends/torch/test_golden.py --update-goldens` and review the diff."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import incept_dsl

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "torch"
CASES = [("googlenet", 0), ("googlenet_tv", 2)]


@pytest.mark.parametrize(("model", "level"), CASES, ids=lambda v: str(v))
def test_generated_source_matches_golden(model: str, level: int, update_goldens: bool) -> None:
    source = incept_dsl.load("googlenet.incept", model=model).torch_source(opt_level=level)
    ast.parse(source)  # the golden is always valid Python
    golden = GOLDEN / f"{model}_O{level}.py.txt"
    if update_goldens:
        golden.write_text(source, encoding="utf-8")
    assert source == golden.read_text(encoding="utf-8"), f"regenerate {golden.name} and review"
