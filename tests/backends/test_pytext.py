"""Arbitrary text (all of Unicode, line breaks of every kind, quotes, NUL, lone surrogates) in
every place where a path or name reaches generated Python: the source keeps the AST shape of a
plain name's source, keeps its line count, encodes as UTF-8, and running it defines the model's
classes and nothing else."""

from __future__ import annotations

import ast
import os

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incept_dsl import loads
from incept_dsl.backends.pytext import comment_text, docstring_text, utf8_text
from incept_dsl.backends.torch.codegen import torch_source

ANY_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()),
    max_size=40,
)
# the strings of the issue, always tried first
NASTY = [
    'x\nopen("PWNED","w").close()\nclass Q:\n    def f(self):\n #.incept',
    'a""";__import__("os").system("touch PWNED");"""b.incept',
    "c\ropen('PWNED','w').close()\r#.incept",
    "d\u2028e\u2029f\x85g\x0ch\x0bi.incept",
    "nul\x00.incept",
    "back\\slash\\.incept",
    'quote"end"',
    "surrogate\udcff.incept",
    "\\",
    '"',
]

PROGRAM = """
model m(classes = 3) {
    input image: 3x8x8
    feats = image -> conv(4, 3, act = relu) -> concat { conv(2, 1); maxpool(3, stride = 1) }
    output logits = feats -> avgpool(global) -> flatten -> linear(classes)
    aux side = feats -> avgpool(global) -> flatten -> linear(classes) weight 0.3
}
"""


class _Blank(ast.NodeTransformer):
    """Forget what text says: every string constant becomes ''."""

    def visit_Constant(self, node: ast.Constant) -> ast.Constant:
        return ast.Constant("") if isinstance(node.value, str) else node


def _shape(source: str) -> str:
    return ast.dump(_Blank().visit(ast.parse(source)))


def _source_for(name: str) -> str:
    model = loads(PROGRAM, name=name)
    return torch_source(model.optimized(0), origin=name)


REFERENCE = _source_for("plain.incept")


@given(ANY_TEXT)
@settings(max_examples=300, deadline=None)
def test_comment_and_docstring_text_cannot_leave_their_line(text):
    line = comment_text(text)
    assert line.isprintable() and '"' not in line
    assert len(line.splitlines()) <= 1
    line.encode("utf-8")
    assert ast.parse("# " + line).body == []
    doc = ast.parse(f'"""{docstring_text(text)}"""').body
    assert len(doc) == 1 and doc[0].value.value == line  # type: ignore[attr-defined]
    utf8_text(text).encode("utf-8")


def _check_generated(name: str) -> None:
    source = _source_for(name)
    source.encode("utf-8")
    assert len(source.splitlines()) == len(REFERENCE.splitlines())
    assert _shape(source) == _shape(REFERENCE)
    namespace: dict = {}
    before = set(os.listdir("."))
    exec(compile(source, "<generated>", "exec"), namespace)  # noqa: S102 - the code under test
    assert set(os.listdir(".")) == before
    defined = {k for k in namespace if not k.startswith("__")}
    assert defined == {"NamedTuple", "torch", "F", "nn", "M", "MOutputs"}


@pytest.mark.parametrize("name", NASTY)
def test_hostile_file_names_run_nothing(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _check_generated(name)
    # the in-process module compiles the same source; it must build and run too
    module = loads(PROGRAM, name=name).to_torch().eval()
    assert module(torch.zeros(1, 3, 8, 8)).shape == (1, 3)
    assert os.listdir(tmp_path) == []


@given(ANY_TEXT)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_file_name_keeps_the_generated_source_shape(name):
    _check_generated(name)


@pytest.mark.parametrize("name", NASTY)
def test_hostile_file_names_reach_onnx_and_tables_as_text(name):
    model = loads(PROGRAM, name=name)
    proto = model.to_onnx()
    proto.SerializeToString()
    summary = model.summary()
    for text in (summary.to_latex(), summary.to_markdown()):
        text.encode("utf-8")
    latex = summary.to_latex()
    for line in latex.splitlines():  # no line comes from a name broken out of its cell or note
        assert not line.startswith("%"), line  # the table has no comment lines
        assert line.startswith(("\\", " ")) or "&" in line or line.endswith("\\par") or not line
