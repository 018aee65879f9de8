"""Every Python keyword, every `nn.Module` attribute and every name the generated file uses, in
every name position of a program: either a located error that says why, or a program that every
backend carries faithfully (state_dict keys = scopes, -O0/-O1/-O2/.py/ONNX agree)."""

from __future__ import annotations

import builtins
import keyword
import re
import runpy

import numpy as np
import pytest
import torch
from torch import nn

from incept_dsl import load_all, loads
from incept_dsl.errors import InceptError, InceptNameError, InceptSyntaxError
from incept_dsl.frontend.names import MODULE_ATTRIBUTES, name_problem
from incept_dsl.frontend.signatures import canonical_op

INCEPT_KEYWORDS = set(
    [
        "model",
        "block",
        "input",
        "output",
        "aux",
        "weight",
        "defaults",
        "import",
        "concat",
        "add",
        "residual",
        "repeat",
        "as",
        "true",
        "false",
    ]
)

NAMES = sorted(
    set(keyword.kwlist)
    | set(keyword.softkwlist)
    | set(dir(nn.Module()))
    | MODULE_ATTRIBUTES
    | {"F", "T", "torch", "nn", "fused_conv2d", "FusedConv2d", "NamedTuple", "self", "x"}
    | {"outputs", "target", "criterion", "M", "MOutputs", "MEvalOutputs", "conv_1", "relu"}
    | {"_a", "__class__", "__w", "__init__", "_modules", "count", "index", "int", "none"}
    | {"sum", "next", "isinstance", "super", "range", "object", "print", "exec", "Exception"}
)

# One template per name position; `{n}` is the name under test.
POSITIONS = {
    "model": "model {n} {{ input q_in: 3x8x8\n output q_out = q_in -> conv(4, 1) -> {head} }}",
    "block": "block {n}(c) = conv(c, 1)\nmodel q_model {{ input q_in: 3x8x8\n output q_out = q_in -> {n}(4) "
    "-> {head} }}",
    "scope": "model q_model {{ input q_in: 3x8x8\n output q_out = q_in -> conv(4, 1) as {n} -> {head} }}",
    "label": "model q_model {{ input q_in: 3x8x8\n output q_out = q_in -> concat {{ {n}: conv(4, 1); conv(2, 1) "
    "}} -> {head} }}",
    "output": "model q_model {{ input q_in: 3x8x8\n output {n} = q_in -> conv(4, 1) -> {head} }}",
    "aux": "model q_model {{ input q_in: 3x8x8\n output q_out = q_in -> conv(4, 1) -> {head}\n aux {n} = q_in -> "
    "{head} weight 0.5 }}",
    "input": "model q_model {{ input {n}: 3x8x8\n output q_out = {n} -> conv(4, 1) -> {head} }}",
    "bind": "model q_model {{ input q_in: 3x8x8\n {n} = q_in -> conv(4, 1)\n output q_out = {n} -> {head} }}",
    "param": "model q_model({n} = 4) {{ input q_in: 3x8x8\n output q_out = q_in -> conv({n}, 1) -> {head} }}",
    "block_param": "block q_block({n}) = conv({n}, 1)\nmodel q_model {{ input q_in: 3x8x8\n output q_out = q_in -> "
    "q_block(4) -> {head} }}",
}
HEAD = "avgpool(global) -> flatten -> linear(3)"


def _program(position: str, name: str) -> str:
    return POSITIONS[position].format(n=name, head=HEAD)


def _name_offset(program: str, position: str, name: str) -> int:
    """Where the name under test is defined in `program` (its first whole-word occurrence after
    the position's keyword)."""
    anchor = {
        "scope": " as ",
        "label": "{ ",
        "output": "output ",
        "aux": "aux ",
        "block": "block ",
        "model": "model ",
        "input": "input ",
        "param": "q_model(",
        "block_param": "q_block(",
        "bind": "\n ",
    }[position]
    start = program.index(anchor) + len(anchor)
    return (
        re.compile(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])")
        .search(program, start)
        .start()
    )


def test_module_attributes_cover_the_installed_torch():
    public = {n for n in dir(nn.Module()) if not n.startswith("_")}
    assert public <= MODULE_ATTRIBUTES, sorted(public - MODULE_ATTRIBUTES)


def _batched(position: str, names: list[str]) -> str:
    """One program that uses every name of `names` at `position` at once."""
    head, model = HEAD, "model q_model"
    if position == "model":
        return "\n".join(POSITIONS["model"].format(n=n, head=head) for n in names)
    if position == "block":
        defs = "\n".join(f"block {n}(c) = conv(c, 1)" for n in names)
        chain = " -> ".join(f"{n}(4)" for n in names)
        return f"{defs}\n{model} {{ input q_in: 3x8x8\n output q_out = q_in -> {chain} -> {head} }}"
    if position == "scope":
        chain = " -> ".join(f"conv(4, 1) as {n}" for n in names)
        return f"{model} {{ input q_in: 3x8x8\n output q_out = q_in -> {chain} -> {head} }}"
    if position == "label":
        branches = "; ".join(f"{n}: conv(1, 1)" for n in names)
        return f"{model} {{ input q_in: 3x8x8\n output q_out = q_in -> concat {{ {branches} }} -> {head} }}"
    if position in ("output", "aux"):
        first = "" if position == "output" else f"output q_out = q_in -> {head}\n"
        weight = " weight 0.5" if position == "aux" else ""
        heads = "\n".join(f"{position} {n} = q_in -> conv(2, 1) -> {head}{weight}" for n in names)
        return f"{model} {{ input q_in: 3x8x8\n{first}{heads} }}"
    if position == "input":
        inputs = "\n".join(f"input {n}: 1x8x8" for n in names)
        return f"{model} {{ {inputs}\n output q_out = concat({', '.join(names)}) -> {head} }}"
    if position == "bind":
        binds, prev = [], "q_in"
        for n in names:
            binds.append(f"{n} = {prev} -> conv(4, 1)")
            prev = n
        body = "\n".join(binds)
        return f"{model} {{ input q_in: 3x8x8\n{body}\n output q_out = {prev} -> {head} }}"
    if position == "param":
        params = ", ".join(f"{n} = 2" for n in names)
        chain = " -> ".join(f"conv({n}, 1)" for n in names)
        return (
            f"{model}({params}) {{ input q_in: 3x8x8\n output q_out = q_in -> {chain} -> {head} }}"
        )
    assert position == "block_param"
    chain = " -> ".join(f"conv({n}, 1)" for n in names)
    args = ", ".join("2" for _ in names)
    return (
        f"block q_block({', '.join(names)}) = {chain}\n{model} {{ input q_in: 3x8x8\n "
        f"output q_out = q_in -> q_block({args}) -> {head} }}"
    )


@pytest.mark.parametrize("position", sorted(POSITIONS))
def test_every_reserved_name_is_rejected_where_it_is_written_or_works(position, tmp_path):
    accepted = []
    for name in NAMES:
        program = _program(position, name)
        try:
            loads(program, name="names.incept")
        except InceptSyntaxError:
            assert name in INCEPT_KEYWORDS, name
            continue
        except InceptError as err:
            assert isinstance(err, InceptNameError), (name, err.render())
            assert name_problem(position, name) is not None or (
                position == "block" and canonical_op(name) is not None
            ), (name, err.render())
            assert err.span is not None and err.span.start == _name_offset(
                program, position, name
            ), err.render()
            assert "help:" in err.render()
            continue
        if position in ("scope", "label", "output", "aux", "model", "block"):
            assert name_problem(position, name) is None, name
        if name not in INCEPT_KEYWORDS:  # `as = ...` parses where `as` cannot follow; not here
            accepted.append(name)
    assert len(accepted) > 20, f"few names accepted at {position}: {accepted}"
    # every accepted name at once: each backend carries the program faithfully
    program = _batched(position, accepted)
    if position == "model":
        path = tmp_path / "names.incept"
        path.write_text(program)
        models = load_all(path)
        _assert_one_file_holds_every_model(models)
        for model in models[::7]:
            _assert_every_backend_carries(model, model.name)
    else:
        _assert_every_backend_carries(loads(program, name="names.incept"), position)


def _assert_one_file_holds_every_model(models) -> None:
    from incept_dsl.backends.torch.codegen import torch_source

    namespace = _run_source(torch_source([m.graph for m in models]))
    classes = {
        v
        for v in namespace.values()
        if isinstance(v, type)
        and issubclass(v, nn.Module)
        and v.__module__ == "<run_path>"
        and hasattr(v, "HEADS")  # a model's class (block classes follow it)
    }
    assert len(classes) == len(models)


def _scopes(model) -> set[str]:
    return {model.graph.scope(n) for n in model.graph.nodes()}


def _assert_every_backend_carries(model, name: str) -> None:
    torch.manual_seed(0)
    ref = model.to_torch()
    shapes = list(model.inputs.values())
    xs = [torch.randn(2, *s) for s in shapes]
    state = ref.state_dict()
    # state_dict keys are the program's scopes, untouched by Python (no mangling, no renaming)
    assert {k.rsplit(".", 1)[0] for k in state} <= _scopes(model), (name, list(state))
    ref.train()
    train_out = ref(*xs)
    ref.eval()
    with torch.no_grad():
        expected = ref(*xs)
    if len(model.heads) > 1:
        assert set(train_out._fields) == {h.name for h in model.heads}, name
    first = expected[0] if isinstance(expected, tuple) else expected
    # long chains of random layers reach large values: compare relative to the largest
    atol = 1e-4 * float(first.abs().max()) + 1e-6
    for level in (1, 2):
        opt = model.to_torch(opt_level=level, state_dict=state).eval()
        with torch.no_grad():
            torch.testing.assert_close(opt(*xs), expected, rtol=1e-4, atol=atol)
    # the written file: importable on its own, same class, same keys, same outputs
    namespace = _run_source(model.torch_source())
    classes = [
        v
        for v in namespace.values()
        if isinstance(v, type)
        and issubclass(v, nn.Module)
        and v.__module__ == "<run_path>"
        and hasattr(v, "HEADS")  # the model's class (block classes follow it)
    ]
    assert len(classes) == 1, name
    written = classes[0]()
    written.load_state_dict(state)
    written.eval()
    with torch.no_grad():
        torch.testing.assert_close(written(*xs), expected)
    # ONNX: the same weights give the same outputs in onnxruntime
    import onnxruntime as ort

    proto = model.to_onnx(state_dict=state)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {i.name: x.numpy() for i, x in zip(session.get_inputs(), xs, strict=True)}
    got = session.run(None, feeds)[0]
    np.testing.assert_allclose(got, first.numpy(), rtol=1e-4, atol=atol)


def _run_source(source: str) -> dict:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "generated.py"
        path.write_text(source, encoding="utf-8")
        return runpy.run_path(str(path), run_name="<run_path>")


def test_builtin_and_keyword_model_names_get_distinct_class_names():
    from incept_dsl.backends.torch.codegen import class_names

    names = class_names(["none", "f", "a_b", "aB", "x", "x_outputs", "named_tuple", "int"])
    assert len(set(names)) == len(names)
    for n in names:
        assert n.isidentifier() and not keyword.iskeyword(n)
        assert n not in dir(builtins) and n not in {"F", "NamedTuple", "torch", "nn"}


@pytest.mark.parametrize("position", ["model", "block", "scope", "label", "output", "aux", "input"])
def test_names_longer_than_the_limit_are_located_errors(position):
    from incept_dsl.frontend.names import MAX_NAME_LENGTH

    longest = "n" * MAX_NAME_LENGTH
    assert loads(_program(position, longest), name="t.incept") is not None
    name = "n" * (MAX_NAME_LENGTH + 1)
    program = _program(position, name)
    with pytest.raises(InceptNameError, match=rf"at most {MAX_NAME_LENGTH} characters") as info:
        loads(program, name="t.incept")
    assert info.value.span.start == _name_offset(program, position, name)
    assert "n" * 100 not in str(info.value.args[0])  # the message does not echo the whole name


def test_input_names_may_start_with_an_underscore():
    assert loads(_program("input", "_img"), name="t.incept") is not None
