"""Every shipped architecture in the PyTorch ecosystem: `torch.compile(fullgraph=True)`,
`torch.export` (dynamic batch), bf16 autocast, `channels_last`, training-mode heads and the
weighted loss. Parametrized over whatever `architectures/*.incept` holds, at the smallest input
size the model shape-checks at (`optimizer_helpers.load_small`; batch 2).

`torch.compile` runs with `backend="eager"` here: dynamo still captures the whole forward (that is
what `fullgraph=True` proves; a graph break is an error), without inductor's code generation,
which costs ~45 s for GoogLeNet on 2 CPU cores. Inductor itself is exercised on one tiny program.
"""

from __future__ import annotations

import copy
from collections import namedtuple
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from optimizer_helpers import load_small

import incept_dsl
from incept_dsl.frontend.loader import Loader

ARCH = Path(__file__).resolve().parents[3] / "architectures"
BATCH = 2


def _cases() -> list[Any]:
    """One pytest param per (file, model); a file that does not parse becomes a failing case."""
    cases = []
    for path in sorted(ARCH.glob("*.incept")):
        try:
            names = [m.name for m in Loader().load_path(path).program.models]
        except incept_dsl.InceptError as err:
            cases.append(pytest.param((path, None, str(err)), id=path.stem))
            continue
        cases += [pytest.param((path, name, None), id=f"{path.stem}:{name}") for name in names]
    return cases


@dataclass
class Case:
    model: incept_dsl.Model
    net: torch.nn.Module  # eval mode; tests that change it work on a copy
    inputs: tuple[torch.Tensor, ...]
    ref: Any  # eager eval-mode output


@pytest.fixture(scope="module", params=_cases())
def case(request) -> Case:
    path, name, error = request.param
    if error is not None:
        pytest.fail(f"{path.name} does not load:\n{error}")
    model = load_small(path.name, name)
    torch.manual_seed(0)
    net = model.to_torch().eval()
    gen = torch.Generator().manual_seed(1)
    inputs = tuple(torch.randn(BATCH, *s, generator=gen) for s in model.inputs.values())
    with torch.no_grad():
        ref = net(*inputs)
    return Case(model, net, inputs, ref)


def tensors(out: Any) -> list[torch.Tensor]:
    """What `forward` returned, as a list of tensors (a lone tensor or a named tuple)."""
    return [out] if isinstance(out, torch.Tensor) else list(out)


def assert_same(out: Any, ref: Any, rtol: float = 1e-4) -> None:
    """Equal structure, and each tensor within `rtol` of the reference (relative to its scale)."""
    assert type(out) is type(ref) or isinstance(out, torch.Tensor) == isinstance(ref, torch.Tensor)
    got, want = tensors(out), tensors(ref)
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        scale = max(b.abs().max().item(), 1e-3)
        torch.testing.assert_close(a, b, rtol=rtol, atol=rtol * scale)


def test_compile_fullgraph_matches_eager(case: Case):
    torch._dynamo.reset()
    compiled = torch.compile(case.net, fullgraph=True, backend="eager")
    with torch.no_grad():
        assert_same(compiled(*case.inputs), case.ref)
    torch._dynamo.reset()  # training mode is compiled in the inductor test below


def test_export_with_dynamic_batch_matches_eager(case: Case):
    batch = torch.export.Dim("batch", min=1, max=1024)
    dynamic = tuple({0: batch} for _ in case.inputs)
    exported = torch.export.export(case.net, case.inputs, dynamic_shapes=dynamic)
    program = exported.module()
    with torch.no_grad():
        assert_same(program(*case.inputs), case.ref)
        three = tuple(torch.cat([x, x[:1]]) for x in case.inputs)  # another batch size
        assert_same(program(*three), case.net(*three))


def test_bf16_autocast_is_close_to_fp32(case: Case):
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = case.net(*case.inputs)
    for got, want in zip(tensors(out), tensors(case.ref), strict=True):
        assert got.shape == want.shape
        assert torch.isfinite(got).all()
        err = (got.float() - want).norm() / want.norm().clamp_min(1e-6)
        assert err < 0.1, f"bf16 relative error {err:.3f}"
    if any(case.model.graph.op(n) in ("conv", "linear") for n in case.model.graph.nodes()):
        assert tensors(out)[0].dtype == torch.bfloat16  # autocast really ran the layers in bf16


def test_channels_last_matches_contiguous(case: Case):
    net = copy.deepcopy(case.net).to(memory_format=torch.channels_last)
    inputs = tuple(
        x.to(memory_format=torch.channels_last) if x.dim() == 4 else x for x in case.inputs
    )
    with torch.no_grad():
        assert_same(net(*inputs), case.ref)


def test_training_returns_every_head_and_loss_uses_declared_weights(case: Case):
    model, heads = case.model, case.model.heads
    outs = [h for h in heads if h.kind == "output"]
    # eval: outputs only, a lone output as a tensor
    if len(outs) == 1:
        assert isinstance(case.ref, torch.Tensor)
    else:
        assert case.ref._fields == tuple(h.name for h in outs)
    # training: every head, as a named tuple in declaration order
    net = copy.deepcopy(case.net).train()
    train_out = net(*case.inputs)
    if len(heads) == 1:
        assert isinstance(train_out, torch.Tensor)
        by_name = {heads[0].name: train_out}
    else:
        assert train_out._fields == tuple(h.name for h in heads)
        by_name = train_out._asdict()
    for h in heads:
        assert tuple(by_name[h.name].shape) == (BATCH, *model.graph.shape(h.node))
    if any(len(model.graph.shape(h.node)) != 1 for h in heads):
        return  # not classification heads: the default cross-entropy does not apply
    target = torch.randint(
        0,
        min(model.graph.shape(h.node)[0] for h in heads),
        (BATCH,),
        generator=torch.Generator().manual_seed(3),
    )
    total, parts = net.loss(train_out, target)
    assert list(parts) == [h.name for h in heads]
    expected = sum(h.weight * F.cross_entropy(by_name[h.name], target) for h in heads)
    assert torch.equal(total, expected)
    for h in heads:
        assert torch.equal(parts[h.name], F.cross_entropy(by_name[h.name], target))
    api_total, api_parts = model.loss(train_out, target)
    assert torch.equal(api_total, total) and list(api_parts) == list(parts)
    total.backward()  # every parameter gets a gradient from some head
    assert all(p.grad is not None for p in net.parameters())


def test_googlenet_aux_heads_weigh_three_tenths():
    model = incept_dsl.load("googlenet.incept", model="googlenet", params={"classes": 10})
    assert [(h.name, h.kind, h.weight) for h in model.heads] == [
        ("aux1", "aux", 0.3),
        ("aux2", "aux", 0.3),
        ("logits", "output", 1.0),
    ]
    heads = namedtuple("Heads", [h.name for h in model.heads])
    gen = torch.Generator().manual_seed(4)
    out = heads(*(torch.randn(BATCH, 10, generator=gen) for _ in model.heads))
    target = torch.tensor([7, 2])
    total, parts = model.loss(out, target)
    ce = {name: F.cross_entropy(t, target) for name, t in out._asdict().items()}
    assert total.item() == pytest.approx(
        (ce["logits"] + 0.3 * ce["aux1"] + 0.3 * ce["aux2"]).item(), rel=1e-6
    )
    assert all(torch.equal(parts[k], ce[k]) for k in ce)


TINY = """
model tiny(classes = 5) {
    input image: 3x16x16
    defaults conv(bn = true, act = relu)
    x = image -> conv(8, 3) -> concat { conv(4, 1); maxpool(3, stride = 1) -> conv(4, 1) }
    aux side = x -> avgpool(global) -> flatten -> linear(classes) weight 0.5
    output logits = x -> maxpool(2) -> avgpool(global) -> flatten -> linear(classes)
}
"""


def test_inductor_compiles_a_tiny_program_forward_and_backward():
    model = incept_dsl.loads(TINY)
    torch.manual_seed(0)
    net = model.to_torch()
    twin = copy.deepcopy(net)
    compiled = torch.compile(twin, fullgraph=True)  # inductor: generated C++ kernels
    x = torch.randn(BATCH, 3, 16, 16)
    target = torch.tensor([1, 3])
    with torch.no_grad():
        assert_same(compiled.eval()(x), net.eval()(x))
    net.train(), compiled.train()
    want, _ = net.loss(net(x), target)
    got, _ = twin.loss(compiled(x), target)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    want.backward()
    got.backward()
    for (name, p), q in zip(net.named_parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-3, atol=1e-5, msg=name)


def test_strict_export_resolves_the_generated_module():
    # regression: the generated code's module was not importable by name, and strict export
    # (dynamo) failed with "No module named 'incept_dsl.generated'"
    net = incept_dsl.loads(TINY).to_torch().eval()
    x = torch.randn(BATCH, 3, 16, 16)
    exported = torch.export.export(net, (x,), strict=True)
    with torch.no_grad():
        assert_same(exported.module()(x), net(x))


@pytest.mark.cuda
def test_cuda_bf16_channels_last_and_compile_match_cpu(monkeypatch):
    model = incept_dsl.load(
        "googlenet.incept", model="googlenet_tv", params={"classes": 10}, input_shape=(3, 64, 64)
    )
    torch.manual_seed(0)
    net = model.to_torch().eval()
    x = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        ref = net(x)
        gpu = copy.deepcopy(net).cuda().to(memory_format=torch.channels_last)
        xg = x.cuda().to(memory_format=torch.channels_last)
        monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
        monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
        assert_same(gpu(xg).cpu(), ref, rtol=1e-3)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            half = gpu(xg)
        assert half.dtype == torch.bfloat16
        assert (half.float().cpu() - ref).norm() / ref.norm() < 0.1
        assert_same(torch.compile(gpu)(xg).cpu(), ref, rtol=1e-3)
