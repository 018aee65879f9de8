"""The generated PyTorch file's structure (`backends/torch/structured.py`, `classes.py`): one class
per block, constructors taking the block's parameters, repeats as `nn.Sequential`, and the same
module as the flat form: the same state_dict keys in the same order, the same initial weights for a
seed, the same outputs, freeing tensors as early."""

from __future__ import annotations

import ast
import importlib.util
import keyword
import re
from functools import cache
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import incept_dsl
from incept_dsl.backends.torch.codegen import torch_source
from incept_dsl.errors import InceptError
from incept_dsl.ir.graph import Graph

MODELS = [
    ("googlenet.incept", "googlenet"),
    ("googlenet.incept", "googlenet_tv"),
    ("resnet.incept", "resnet50"),
    ("inception_resnet_v2.incept", "inception_resnet_v2"),
    ("vit.incept", "vit_b_16"),
    ("unet.incept", "unet"),
]


@cache
def _graph(file: str, model: str) -> Graph:
    return incept_dsl.load(file, model=model).graph


def _cls(source: str) -> type:
    namespace: dict = {}
    exec(compile(source, "<generated>", "exec"), namespace)  # noqa: S102 - our generated code
    return next(v for v in namespace.values() if isinstance(v, type) and hasattr(v, "HEADS"))


def _pair(graph: Graph) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(flat, structured) modules of `graph`, each initialised from seed 0."""
    flat, classes = _cls(torch_source(graph, flat=True)), _cls(torch_source(graph))
    torch.manual_seed(0)
    a = flat()
    torch.manual_seed(0)
    b = classes()
    return a, b


@pytest.mark.parametrize(("file", "model"), MODELS, ids=lambda v: str(v))
def test_same_state_dict_init_and_outputs_as_the_flat_form(file: str, model: str) -> None:
    graph = _graph(file, model)
    flat, classes = _pair(graph)
    a, b = flat.state_dict(), classes.state_dict()
    assert list(a) == list(b)  # keys, in order: checkpoints and copy_weights depend on them
    assert all(torch.equal(a[k], b[k]) for k in a)  # modules in the same order: the same init
    torch.manual_seed(1)
    x = torch.randn(2, *graph.shape(graph.input_nodes()[0]))
    with torch.no_grad():
        assert torch.equal(flat.eval()(x), classes.eval()(x))


def test_googlenet_is_shorter_than_torchvisions() -> None:
    spec = importlib.util.find_spec("torchvision")  # a test dependency: always there
    assert spec is not None and spec.submodule_search_locations
    theirs = Path(next(iter(spec.submodule_search_locations))) / "models" / "googlenet.py"
    ours = incept_dsl.load("googlenet.incept", model="googlenet_tv").torch_source()
    assert ours.count("\n") < theirs.read_text().count("\n")


def test_one_class_per_block_taking_its_parameters() -> None:
    src = incept_dsl.load("googlenet.incept", model="googlenet_tv").torch_source()
    assert src.count("class InceptionTv(nn.Module):") == 1
    assert "def __init__(self, in_channels: int, c1: int, c3r: int, c3: int" in src
    assert "self.inception3a = InceptionTv(192, 64, 96, 128, 16, 32, 32)" in src
    assert "self.branch2.conv_2.conv = nn.Conv2d(c3r, c3, kernel_size=(3, 3)" in src
    assert "\n        return torch.cat([branch1, branch2, branch3, branch4], 1)" in src


def test_repeat_is_a_sequential_over_the_body_class() -> None:
    src = incept_dsl.load("resnet.incept", model="resnet50").torch_source()
    assert "nn.Sequential(*(BottleneckStep(4 * c, c) for _ in range(n - 1)))" in src
    assert "self.layer3 = BottleneckStage(512, 256, 6, 2)" in src
    # chains reuse their local, residual adds the branch's: one `del` is left (the projection
    # shortcut's tensor, freed before the block's last ReLU); the flat file had 159
    assert len(re.findall(r"^ *del ", src, flags=re.M)) == 1


def test_o2_keeps_the_flat_form() -> None:
    src = incept_dsl.load("resnet.incept", model="resnet50").torch_source(opt_level=2)
    assert "class Bottleneck" not in src


def _peak(module: torch.nn.Module, x: torch.Tensor) -> int:
    from torch.profiler import ProfilerActivity, profile

    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        module(x)
    total = peak = 0
    for e in sorted(prof.events(), key=lambda e: e.time_range.start):
        total += e.self_cpu_memory_usage
        peak = max(peak, total)
    return peak


def test_peak_memory_is_the_flat_forms() -> None:
    graph = _graph("googlenet.incept", "googlenet_tv")
    flat, classes = _pair(graph)
    x = torch.randn(4, *graph.shape(graph.input_nodes()[0]))
    assert _peak(classes.eval(), x) <= _peak(flat.eval(), x)


# ---- names from the program reach the generated code: block and parameter names ----------------
HOSTILE = ["nn", "F", "torch", "self", "in_channels", "x", "x2", "out", "super", "range", "int"]
NAMES = st.one_of(
    st.sampled_from(HOSTILE + ["forward", "training", "NamedTuple", "Net", "class_", "None"]),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(block=NAMES, p=NAMES, q=NAMES)
def test_any_block_and_parameter_names_give_valid_equal_code(block: str, p: str, q: str) -> None:
    assume(p != q and not keyword.iskeyword(block))
    program = f"""
block {block}({p}, {q}) = conv({p}, 3) -> conv({q}, 1) -> maxpool(2)

model net {{
    input img: 3x16x16
    output logits = img -> {block}(8, 4) as first -> {block}(16, 8) as second
        -> avgpool(global) -> flatten -> linear(10)
}}
"""
    try:
        graph = incept_dsl.loads(program, name="hostile.incept").graph
    except InceptError:
        assume(False)  # not a valid program (a reserved word of the language)
        return
    ast.parse(torch_source(graph))
    flat, classes = _pair(graph)
    assert list(flat.state_dict()) == list(classes.state_dict())
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(flat.eval()(x), classes.eval()(x))
