"""The -O2 kernel choices in the generated PyTorch source: FusedConv2d, channels-last, in place."""

from __future__ import annotations

import importlib.util
import sys
from functools import partial

import pytest
from helpers import model
from optimizer_helpers import FUSED_PROGRAM as PROGRAM
from optimizer_helpers import outputs_agree, randomize, rel_err

import incept_dsl
from incept_dsl.backends.cpu_features import (
    cpu_capability,
    onednn_bf16_conv,
    onednn_bf16_reason,
)


def test_only_O2_source_uses_the_kernels():
    m = model(PROGRAM)
    for level in (0, 1):
        src = m.torch_source(level)
        assert "FusedConv2d" not in src and "channels_last" not in src
        # in place only the -O0 chains' ReLUs (a block's input lives until it returns)
        assert all("F.relu(" in ln for ln in src.splitlines() if "inplace" in ln)
    src = m.torch_source(2)
    assert "class FusedConv2d(nn.Conv2d):" in src
    assert src.count("act='relu')") == 5  # every conv, the residual one with its add fused
    assert "conv_2_conv = self.conv_2.conv(concat_1, concat_1)" in src
    assert "x_2 = x_2.contiguous(memory_format=torch.channels_last)" in src
    assert "self.to(memory_format=torch.channels_last)" in src
    assert src == model(PROGRAM).torch_source(2)  # deterministic


def test_the_O2_file_stands_alone(tmp_path):
    m = model(PROGRAM)
    net0 = randomize(m.to_torch()).eval()
    net2 = m.to_torch(opt_level=2, state_dict=net0.state_dict())
    path = tmp_path / "t_o2.py"
    path.write_text(m.torch_source(2))
    spec = importlib.util.spec_from_file_location("t_o2", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    standalone = mod.T()
    standalone.load_state_dict(net2.state_dict())
    outputs_agree(net0, standalone.eval(), m)


def test_weights_are_repacked_when_they_change():

    m = model(PROGRAM)
    first = randomize(m.to_torch(), seed=1).eval()
    second = randomize(m.to_torch(), seed=2).eval()
    net = m.to_torch(opt_level=2, state_dict=first.state_dict())
    outputs_agree(first, net, m)  # packs the first weights
    net.load_state_dict(m.to_torch(opt_level=2, state_dict=second.state_dict()).state_dict())
    outputs_agree(second, net, m)


def test_weights_are_packed_per_batch_size_for_the_last_four():
    """oneDNN lays packed weights out for the whole input shape: a conv keeps one pack per batch
    size (for the 4 used last) and is right at every size, in any order."""
    m = model(PROGRAM)
    net0 = randomize(m.to_torch()).eval()
    net = m.to_torch(opt_level=2, state_dict=net0.state_dict())
    conv = net.conv_1.conv
    for batch in (1, 3, 1, 5, 2, 7, 3):  # 3 was used after 1 and survives 7
        outputs_agree(net0, net, m, batch=batch)
    if not _generated(net)._ONEDNN:
        pytest.skip("PyTorch has no oneDNN here: the convs run as nn.Conv2d")
    assert [s[0] for s in conv._packed[1]] == [5, 2, 7, 3]  # least recently used first
    second = randomize(m.to_torch(), seed=3).eval()
    net.load_state_dict(m.to_torch(opt_level=2, state_dict=second.state_dict()).state_dict())
    outputs_agree(second, net, m, batch=5)  # new weights: every pack dropped
    assert [s[0] for s in conv._packed[1]] == [5]


SE = """model s {
    input x: 16x1x1
    output y = x -> conv(8, 1, act = relu) -> conv(16, 1, act = sigmoid) -> flatten
}
"""


def test_a_single_pixel_runs_pytorchs_own_conv(monkeypatch):
    """An SE gate at batch 1 is a matrix-vector product: nn.Conv2d, no packed weights; at batch
    2 the same conv runs oneDNN's kernel (the small-conv rule of AVX2 CPUs turned off). Both
    agree with -O0."""
    m = model(SE)
    net0 = randomize(m.to_torch()).eval()
    net = m.to_torch(opt_level=2, state_dict=net0.state_dict())
    monkeypatch.setattr(_generated(net), "_SMALL_CONV_MACS", 0)
    outputs_agree(net0, net, m, batch=1)
    assert net.conv_1._packed == (None, None)
    outputs_agree(net0, net, m, batch=2)
    if _generated(net)._ONEDNN:
        assert [s[0] for s in net.conv_1._packed[1]] == [2]


def test_compiled_and_exported_O2_modules_leave_the_kernels_to_the_compiler():
    """Traced by dynamo (torch.compile with fullgraph, torch.export with a dynamic batch), a
    FusedConv2d is nn.Conv2d and its activation: plain aten ops the compiler chooses kernels for,
    no packed weights in the graph."""
    import torch

    m = model(PROGRAM)
    net0 = randomize(m.to_torch()).eval()
    net = m.to_torch(opt_level=2, state_dict=net0.state_dict()).eval()
    compiled = torch.compile(net, fullgraph=True)
    outputs_agree(net0, compiled, m, batch=3)
    x = torch.randn(2, *m.inputs["x"])
    ep = torch.export.export(net, (x,), dynamic_shapes=({0: torch.export.Dim("n", max=64)},))
    ops = {str(n.target) for n in ep.graph.nodes if n.op == "call_function"}
    assert "aten.conv2d.default" in ops and not any("mkldnn" in op for op in ops), ops
    outputs_agree(net0, ep.module(), m, batch=5)


def test_a_module_built_and_run_under_inference_mode():
    """Inference tensors have no version counter: the packed weights are keyed without one."""
    import torch

    m = model(PROGRAM)
    net0 = randomize(m.to_torch()).eval()
    with torch.inference_mode():
        net = m.to_torch(opt_level=2, state_dict=net0.state_dict())
        outputs_agree(net0, net, m)
        outputs_agree(net0, net, m)  # the second call uses the packed weights


def test_a_used_module_can_be_copied_and_pickled():
    import copy
    import io

    import torch

    m = model(PROGRAM)
    net0 = randomize(m.to_torch()).eval()
    net = m.to_torch(opt_level=2, state_dict=net0.state_dict())
    outputs_agree(net0, net, m)  # packs weights (opaque oneDNN tensors)
    outputs_agree(net0, copy.deepcopy(net), m)
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)


def test_autograd_falls_back_to_plain_conv():
    import torch

    m = model(PROGRAM)
    net0 = randomize(m.to_torch()).eval()
    net = m.to_torch(opt_level=2, state_dict=net0.state_dict()).requires_grad_(True)
    x = torch.randn(2, 3, 16, 16)
    out = net(x)
    out.sum().backward()
    assert net.conv_1.conv.weight.grad is not None
    with torch.no_grad():
        assert rel_err(out, net0(x)) < 1e-4


def test_bfloat16_runs_close_to_float32():
    import torch

    m = model(PROGRAM)
    net0 = randomize(m.to_torch()).eval()
    net = m.to_torch(opt_level=2, state_dict=net0.state_dict()).to(torch.bfloat16)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert rel_err(net(x.to(torch.bfloat16)).float(), net0(x)) < 5e-2


def _generated(net) -> object:
    """The namespace of the generated file `net`'s class was compiled from."""
    return sys.modules[type(net).__module__]


def test_the_generated_file_probes_the_cpu_as_cpu_features_does():
    net = model(PROGRAM).to_torch(opt_level=2)
    assert onednn_bf16_conv() == _generated(net)._ONEDNN_BF16
    assert onednn_bf16_conv() == (onednn_bf16_reason() == "")


def _bf16_run(net0, net) -> None:
    import torch

    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        out = net(x.to(torch.bfloat16))
        assert out.dtype == torch.bfloat16
        assert rel_err(out.float(), net0(x)) < 5e-2


def test_bfloat16_without_the_cpu_kernel_computes_in_float32(monkeypatch):
    """What an AVX2-only CPU does (no oneDNN bfloat16 convolution), forced on any CPU."""
    import torch

    m = model(PROGRAM)
    net0 = randomize(m.to_torch()).eval()
    net = m.to_torch(opt_level=2, state_dict=net0.state_dict()).to(torch.bfloat16)
    monkeypatch.setattr(_generated(net), "_ONEDNN_BF16", False)
    _bf16_run(net0, net)
    if _generated(net)._ONEDNN:  # the float32 kernel ran, on weights packed in float32
        assert net.conv_1.conv._packed[0][2] == torch.float32


@pytest.mark.skipif(not onednn_bf16_conv(), reason=onednn_bf16_reason() or "oneDNN bf16 runs")
def test_bfloat16_runs_the_bfloat16_kernel_where_the_cpu_has_it():
    import torch

    m = model(PROGRAM)
    net0 = randomize(m.to_torch()).eval()
    net = m.to_torch(opt_level=2, state_dict=net0.state_dict()).to(torch.bfloat16)
    _bf16_run(net0, net)
    assert net.conv_1.conv._packed[0][2] == torch.bfloat16


SMALL = """model s {
    input x: 16x14x14
    a = x -> conv(24, 1, act = relu)
    b = a -> conv(24, 1, bias = false) -> conv(24, 3, padding = 1, act = sigmoid)
    c = add(b, a) -> conv(32, 1, stride = 2) -> conv(8, (1, 3), padding = (0, 1), act = tanh)
    d = c -> conv(8, 1)
    output y = add(c, d) -> relu -> flatten
}
"""


def test_the_generated_file_turns_the_small_conv_rule_on_for_avx2_only():
    net = model(SMALL).to_torch(opt_level=2)
    on = _generated(net)._SMALL_CONV_MACS
    assert on == (10_000_000 if cpu_capability() == "AVX2" else 0)


def _conv_macs(net, batch: int) -> dict[str, int]:
    """Each FusedConv2d's multiply-adds at `batch`, as the rule counts them (input elements x
    output channels x kernel area), read from the inputs it gets."""
    import torch

    convs = {n: c for n, c in net.named_modules() if type(c).__name__ == "FusedConv2d"}
    seen: dict[str, int] = {}

    def count(c, args, n: str) -> None:  # a pre-hook returning a value would replace the args
        seen[n] = args[0].numel() * c.out_channels * c.kernel_size[0] * c.kernel_size[1]

    hooks = [c.register_forward_pre_hook(partial(count, n=n)) for n, c in convs.items()]
    with torch.no_grad():
        net(torch.randn(batch, 16, 14, 14))
    for h in hooks:
        h.remove()
    return seen


def _record_calls(monkeypatch, gen, convs: dict, kernel: str) -> list[str]:
    """The names of the convs (of `convs`, by name) whose FusedConv2d `kernel` method runs from
    now on, in call order; the method still runs."""
    ran: list[str] = []
    method = getattr(gen.FusedConv2d, kernel)
    names = {id(c): n for n, c in convs.items()}
    monkeypatch.setattr(
        gen.FusedConv2d,
        kernel,
        lambda self, x, add: ran.append(names[id(self)]) or method(self, x, add),
    )
    return ran


@pytest.mark.parametrize("batch", [1, 3])
def test_small_convs_run_pytorchs_gemm_when_the_rule_is_on(monkeypatch, batch):
    """What an AVX2-only CPU does with a small conv, forced on any CPU: a stride-1 conv of at
    most `_SMALL_CONV_MACS` multiply-adds runs as addmm (1×1) or PyTorch's im2col conv (others),
    with its residual add and activation, packing no weights; the strided conv and the convs
    above the threshold still run oneDNN's op. All agree with -O0, in both memory formats."""
    import torch

    m = model(SMALL)
    net0 = randomize(m.to_torch()).eval()
    net = m.to_torch(opt_level=2, state_dict=net0.state_dict()).eval()
    gen = _generated(net)
    convs = {n: c for n, c in net.named_modules() if type(c).__name__ == "FusedConv2d"}
    assert len(convs) == 6 and any(c.bias is None for c in convs.values())
    assert "self.conv_6(conv_5_tanh, conv_5_tanh)" in m.torch_source(2)  # the add fused
    monkeypatch.setattr(gen, "_SMALL_CONV_MACS", 0)
    macs = _conv_macs(net, batch)
    for c in convs.values():
        c._packed = (None, None)  # packed by that run
    threshold = sorted(macs.values())[3]  # four convs are small, one of them strided
    monkeypatch.setattr(gen, "_SMALL_CONV_MACS", threshold)
    ran = _record_calls(monkeypatch, gen, convs, "_gemm")
    outputs_agree(net0, net, m, batch=batch)
    small = {n for n, c in convs.items() if macs[n] <= threshold and c.stride == (1, 1)}
    assert set(ran) == small and 1 < len(small) < 6
    assert any(convs[n].kernel_size != (1, 1) for n in small)
    assert any(convs[n].kernel_size == (1, 1) for n in small)
    for n, c in convs.items():
        assert (c._packed == (None, None)) == (n in small or not gen._ONEDNN), n
    x = torch.randn(batch, 16, 14, 14)  # NCHW memory: a 1×1 conv takes the im2col conv
    with torch.no_grad():
        assert rel_err(net.forward(x), net0(x)) < 1e-4
    monkeypatch.setattr(gen, "_SMALL_CONV_MACS", 0)  # the rule off: no conv is small
    ran.clear()
    outputs_agree(net0, net, m, batch=batch)
    assert ran == []


WINOGRAD = """model w {
    input x: 96x31x31
    a = x -> conv(128, 3, padding = 1, act = relu)
    b = a -> conv(128, 3, padding = 1, bias = false)
    c = add(b, a) -> relu -> conv(96, 3, padding = 1, act = relu)
    output y = c -> conv(16, 3, padding = 1) -> conv(8, 3, stride = 2) -> flatten
}
"""


def test_the_generated_file_turns_winograd_on_for_avx2_only():
    gen = _generated(model(WINOGRAD).to_torch(opt_level=2))
    tiles = gen._WINOGRAD_TILES
    assert tiles == ((64, 1024) if cpu_capability() == "AVX2" else (0, 0))
    assert gen._WINOGRAD_CHANNELS == 12_288


@pytest.mark.parametrize("batch", [1, 3])
def test_winograd_runs_the_large_3x3_convs_when_the_rule_is_on(monkeypatch, batch):
    """What an AVX2-only CPU does with a 3×3 conv of enough channels, forced on any CPU: the
    three stride-1 3×3 convs with in × out ≥ 12,288 (one without bias, one with its residual add
    fused) run as F(4×4, 3×3) on 31×31 inputs (8×8 tiles, the last row and column cropped);
    the narrow conv and the strided one do not. All agree with -O0, in both memory formats;
    the transformed weights follow a change of the weights; with the rule off no conv takes it."""
    import torch

    m = model(WINOGRAD)
    assert "self.conv_2(conv_1_relu, conv_1_relu)" in m.torch_source(2)  # the add fused
    net0 = randomize(m.to_torch()).eval()
    net = m.to_torch(opt_level=2, state_dict=net0.state_dict()).eval()
    gen = _generated(net)
    convs = {n: c for n, c in net.named_modules() if type(c).__name__ == "FusedConv2d"}
    monkeypatch.setattr(gen, "_WINOGRAD_TILES", (64, 1024))
    ran = _record_calls(monkeypatch, gen, convs, "_winograd")
    outputs_agree(net0, net, m, batch=batch)
    wide = {n for n, c in convs.items() if c.in_channels * c.out_channels >= 12_288}
    assert sorted(ran) == sorted(wide) and len(wide) == 3
    assert any(convs[n].bias is None for n in wide)
    x = torch.randn(batch, 96, 31, 31)  # NCHW memory
    with torch.no_grad():
        assert rel_err(net.forward(x), net0(x)) < 1e-4
        conv = convs[sorted(wide)[0]]
        before = conv._winograd_u().clone()
        conv.weight.mul_(2)
        assert torch.allclose(conv._winograd_u(), 2 * before)
    monkeypatch.setattr(gen, "_WINOGRAD_TILES", (0, 0))  # the rule off
    ran.clear()
    with torch.no_grad():
        net(x)
    assert ran == []


@pytest.mark.cuda
def test_cuda_falls_back_to_cudnn():
    import torch

    m = incept_dsl.load("googlenet.incept", model="googlenet")
    net0 = randomize(m.to_torch()).eval()
    net = m.to_torch(opt_level=2, state_dict=net0.state_dict()).cuda()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert rel_err(net(x.cuda()).cpu(), net0(x)) < 1e-3  # TF32 may be on
