"""Shared checks of the v2 op tests: random non-trivial weights, -O0/-O1/-O2 agreement,
onnxruntime against PyTorch, located errors and the formatter's round trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import incept_dsl
from incept_dsl.errors import InceptError
from incept_dsl.fmt import ast_equal, format_text
from incept_dsl.frontend.parser import parse


def x_(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def randomized(net: torch.nn.Module, seed: int = 1) -> torch.nn.Module:
    with torch.no_grad():
        gen = torch.Generator().manual_seed(seed)
        for p in net.parameters():
            p.copy_(torch.rand(p.shape, generator=gen) - 0.5)
    return net.eval()


def ops_of(m: incept_dsl.Model) -> list[tuple[str, str, tuple[int, ...]]]:
    g = m.graph
    return [(g.scope(n), g.op(n), g.shape(n)) for n in g.order() if g.op(n) != "input"]


def levels_agree(m: incept_dsl.Model, x: torch.Tensor) -> torch.nn.Module:
    """-O1 and -O2 (with the -O0 module's random weights carried) agree with -O0 within 1e-4."""
    net0 = randomized(m.to_torch())
    state = net0.state_dict()
    with torch.no_grad():
        ref = net0(x)
        for level in (1, 2):
            out = m.to_torch(opt_level=level, state_dict=state)(x)
            assert float((out - ref).abs().max() / ref.abs().max()) < 1e-4, f"-O{level}"
    return net0


def onnx_agrees(m: incept_dsl.Model, x: torch.Tensor, levels=(0, 1), opsets=(11, 13, 18)):
    """onnxruntime's outputs equal the -O0 module's within 1e-4, at each level and opset."""
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    net0 = randomized(m.to_torch())
    state = {k: v.numpy() for k, v in net0.state_dict().items()}
    with torch.no_grad():
        want = net0(x).numpy()
    protos = []
    for level in levels:
        for opset in opsets:
            proto = m.to_onnx(opt_level=level, state_dict=state, opset=opset)
            data = proto.SerializeToString()
            onnx.checker.check_model(data, full_check=True)
            sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
            (got,) = sess.run(None, {proto.graph.input[0].name: x.numpy()})
            assert float(np.abs(got - want).max() / np.abs(want).max()) < 1e-4, (level, opset)
            protos.append(proto)
    return protos


def error_of(body: str, shape: str = "8x6x6") -> InceptError:
    text = f"model m {{\n    input x: {shape}\n    output y = x -> {body}\n}}\n"
    with pytest.raises(InceptError) as e:
        incept_dsl.loads(text, name="v2.incept")
    return e.value


def round_trips(text: str) -> None:
    out = format_text(text, "t.incept")
    assert format_text(out, "t.incept") == out
    assert ast_equal(parse(text, "t.incept"), parse(out, "t.incept"))
