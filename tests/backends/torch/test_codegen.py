"""PyTorch backend: real shapes equal inferred shapes, the standalone file equals to_torch(),
deterministic source, modes and heads, and the PyTorch ecosystem basics."""

from __future__ import annotations

import importlib.util
import sys

import pytest
import torch
from helpers import model
from torch.overrides import TorchFunctionMode

import incept_dsl
from incept_dsl.backends.torch.codegen import LOWER
from incept_dsl.ir.ops import OPS, WEIGHTED

EVERYTHING = """
block inc(c) = concat {
    conv(c, 1, act = hardswish)
    conv(c, 1) -> conv(c, 1x3) -> conv(c, 3x1, dilation = 1)
    avgpool(3, stride = 1, count_include_pad = false) -> conv(c, 1, act = leaky_relu) -> hardsigmoid
    maxpool(3, stride = 1, ceil = true) -> conv(c, 1, groups = 1)
}
model everything(classes = 7) {
    input image: 3x37x41
    defaults conv(bn = true, act = relu, bias = false)
    stem = image -> conv(16, 3, stride = 2) -> lrn(size = 3) -> maxpool(3, stride = 2, padding = valid, ceil = true)
    body = stem -> inc(8) as mixed -> residual(scale = 0.2) { conv(32, 3, act = gelu) } -> relu6
        -> repeat(2) { add { conv(32, 3, groups = 4, act = silu); identity } -> tanh }
    side = body -> adaptive_avgpool(3x3) -> conv(4, 1, bn = false, act = sigmoid) -> scale(0.5)
        -> leaky_relu(slope = -0.3)
    aux extra = side -> flatten -> dropout(0.3) -> linear(classes) weight 0.4
    output logits = body -> avgpool(global) -> flatten -> bn -> fc(classes, act = relu6) -> softmax
    output pooled = body -> avgpool(2, stride = 2) -> flatten
}
"""


class _Recorder(TorchFunctionMode):
    """Records the shape of every top-level torch call's tensor result, in call order."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if isinstance(out, torch.Tensor) and func is not torch.Tensor.add_:
            self.shapes.append(tuple(out.shape))
        return out


def _graph_exec_order(g, training: bool):
    import networkx as nx

    evals = set()
    for h in g.heads:
        if h.kind == "output":
            evals |= nx.ancestors(g.nx, h.node) | {h.node}
    main = [n for n in g.order() if n in evals and g.op(n) != "input"]
    if not training:
        return main
    aux = set()
    for h in g.heads:
        if h.kind == "aux":
            aux |= nx.ancestors(g.nx, h.node) | {h.node}
    return main + [n for n in g.order() if n in aux - evals and g.op(n) != "input"]


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("source", ["everything", "googlenet"])
def test_real_shapes_equal_inferred(source, training):
    m = incept_dsl.load("googlenet.incept") if source == "googlenet" else model(EVERYTHING)
    net = m.to_torch().train(training)
    g = m.graph
    x = torch.randn(2, *next(iter(m.inputs.values())))
    rec = _Recorder()
    with torch.no_grad(), rec:
        net(x)
    expected = [(2, *g.shape(n)) for n in _graph_exec_order(g, training)]
    assert rec.shapes == expected


def test_every_ir_op_has_a_lowering():
    missing = set(OPS) - set(LOWER) - {"input"}
    assert not missing


def test_parameter_count_and_state_dict_names():
    m = model(EVERYTHING)
    net = m.to_torch()
    assert sum(p.numel() for p in net.parameters()) == m.param_count()
    keys = list(net.state_dict())
    assert "mixed.branch_2.conv_2.conv.weight" in keys
    assert "mixed.branch_2.conv_2.bn.running_var" in keys
    assert "repeat_1.1.branch_1.conv_1.conv.weight" in keys
    assert "linear_1.weight" in keys


def test_modes_heads_and_loss():
    m = model(EVERYTHING)
    net = m.to_torch()
    x = torch.randn(3, 3, 37, 41)
    net.train()
    out = net(x)
    assert out._fields == ("extra", "logits", "pooled")
    net.eval()
    ev = net(x)
    assert ev._fields == ("logits", "pooled")
    target = torch.randint(0, 7, (3,))
    net.train()
    out = net(x)
    crit = lambda o, t: o.float().pow(2).mean()  # noqa: E731 - works for every head's shape
    total, parts = net.loss(out, target, criterion=crit)
    assert set(parts) == {"extra", "logits", "pooled"}
    assert torch.allclose(total, parts["logits"] + parts["pooled"] + 0.4 * parts["extra"])
    total2, _ = m.loss(out, target, criterion=crit)
    assert torch.allclose(total, total2)


def test_lone_output_is_a_tensor_and_generated_file_matches(tmp_path):
    m = incept_dsl.load("googlenet.incept")
    path = tmp_path / "googlenet.py"
    path.write_text(m.torch_source())
    spec = importlib.util.spec_from_file_location("gen_googlenet", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["gen_googlenet"] = mod
    spec.loader.exec_module(mod)
    standalone = mod.Googlenet()
    inproc = m.to_torch()
    assert list(standalone.state_dict()) == list(inproc.state_dict())
    standalone.load_state_dict(inproc.state_dict())
    standalone.eval()
    inproc.eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        a, b = standalone(x), inproc(x)
    assert isinstance(a, torch.Tensor)
    assert torch.equal(a, b)
    assert "incept_dsl" not in path.read_text().split('"""', 2)[2]  # imports only torch


def test_source_is_deterministic_and_readable():
    a = incept_dsl.load("googlenet.incept").torch_source()
    b = incept_dsl.load("googlenet.incept").torch_source()
    assert a == b
    # one class per block, its constructor taking the block's parameters; the model builds it
    assert "self.branch_2.conv_1 = nn.Conv2d(in_channels, c3r, kernel_size=(1, 1)" in a
    assert "self.inception_3a = Inception(192, 64, 96, 128, 16, 32, 32)" in a
    compile(a, "googlenet.py", "exec")


def test_source_order_branch_1_runs_first():
    src = incept_dsl.load("googlenet.incept").torch_source()
    i1 = src.index("= self.branch_1.conv_1(")
    i2 = src.index("= self.branch_2.conv_1(")
    assert i1 < i2


def test_state_dict_round_trip():
    m = model(EVERYTHING)
    a = m.to_torch()
    b = m.to_torch(state_dict=a.state_dict())
    x = torch.randn(2, 3, 37, 41)
    a.eval()
    b.eval()
    with torch.no_grad():
        assert torch.equal(a(x).logits, b(x).logits)


@pytest.mark.parametrize("init", ["kaiming", "trunc_normal", "torch"])
def test_init_schemes(init):
    net = model(EVERYTHING).to_torch(init=init)
    w = net.mixed.branch_1.conv_1.conv.weight
    assert torch.isfinite(w).all() and w.std() > 0
    if init == "trunc_normal":
        assert w.abs().max() <= 0.02 + 1e-6 or w.std() < 0.02


def test_channels_last_compile_and_export():
    m = model(EVERYTHING)
    net = m.to_torch().eval()
    x = torch.randn(2, 3, 37, 41)
    with torch.no_grad():
        ref = net(x)
        cl = net.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
        torch.testing.assert_close(cl.logits, ref.logits, rtol=1e-4, atol=1e-5)
        compiled = torch.compile(net, fullgraph=True, backend="eager")
        torch.testing.assert_close(compiled(x).logits, ref.logits, rtol=1e-4, atol=1e-5)
    exported = torch.export.export(net, (x,))
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(x).logits, ref.logits, rtol=1e-4, atol=1e-5)


@pytest.mark.cuda
def test_cuda_forward_matches_cpu():
    m = model(EVERYTHING)
    net = m.to_torch().eval()
    x = torch.randn(2, 3, 37, 41)
    with torch.no_grad():
        ref = net(x).logits
        got = net.cuda()(x.cuda()).logits.cpu()
    torch.testing.assert_close(got, ref, rtol=1e-3, atol=1e-4)


#: The v2 parametric ops (LANGUAGE.md section 11), which EVERYTHING (v1) does not use.
V2_WEIGHTED = (
    "model v2 { input x: 4x6x6\n output y = x -> groupnorm(2) -> layer_scale -> layernorm"
    " -> conv_transpose(4, 2, stride = 2) -> tokens -> class_token -> pos_embedding"
    " -> attention(2) -> select }"
)


def test_parametric_ops_are_modules():
    src = model(EVERYTHING).torch_source() + model(V2_WEIGHTED).torch_source()
    ctors = {
        "conv": "nn.Conv2d(",
        "batchnorm": "nn.BatchNorm",
        "linear": "nn.Linear(",
        "groupnorm": "nn.GroupNorm(",
        "layer_scale": "nn.ParameterDict({'gamma': nn.Parameter(",
        "layernorm": "nn.LayerNorm(",
        "conv_transpose": "nn.ConvTranspose2d(",
        "class_token": "nn.ParameterDict({'token': nn.Parameter(",
        "pos_embedding": "nn.ParameterDict({'embedding': nn.Parameter(",
        "attention": "nn.MultiheadAttention(",
    }
    for op in WEIGHTED:
        assert ctors[op] in src
