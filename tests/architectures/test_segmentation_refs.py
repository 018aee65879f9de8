"""FCN-ResNet50 and DeepLabV3-ResNet50 (architectures/segmentation.incept) are exact against
torchvision's `segmentation.fcn_resnet50` and `segmentation.deeplabv3_resnet50` (aux_loss=True,
21 classes).

As tests/architectures/test_resnext_refs.py does: the same parameter count as the reference at
520×520, with and without the aux head (torchvision's aux_loss=False), the conv multiply-adds of
torchvision's metadata (`_ops`, three digits, which counts the aux head: torchvision runs it in
evaluation too), every conv's kernel, stride, padding and dilation in order, and with the
reference's weights copied in by `incept_dsl.copy_weights` (every BatchNorm given random affine
parameters and data-driven, perturbed running statistics first) the same eval-mode `out`,
relative difference below 1e-4, at -O0, -O1 and -O2 (the -O0 state_dict carried through the
passes) and in onnxruntime, where the export keeps the aux head and `aux` is compared too. The
aux head exists in training mode only here: both heads are compared in training mode, where the
same random numbers drop the same activations (the dropouts of FCNHead and ASPP), once with
frozen batch norms (running statistics, so the aux head's are checked) and once with batch
statistics. A bare state_dict loads the same tensors.

Outputs are compared at 100×100 (`size = 100`) to keep the tests fast on two shared cores: the
map at output stride 8 is then 13×13, so layer3's and layer4's dilations (2, 4) and the rate-12
ASPP conv reach real pixels (rates 24 and 36 see only padding off the centre, as at any size
below 200: the conv check above pins them), the image-pooling branch upsamples 1×1 to 13×13, and
the final bilinear upsampling 13 -> 100 has a non-integer ratio.
"""

from __future__ import annotations

import copy

import numpy as np
import onnxruntime as ort
import pytest
import torch
from helpers import randomize_batchnorm

import incept_dsl
from tests.architectures.refs_support import assert_informative, conv_linear_macs, rel_diff

FILE = "segmentation.incept"
RTOL = 1e-4
SIZE = 100  # output comparisons: 13×13 at output stride 8

#: model -> (torchvision's weights enum, the reference's parameter count with the aux head
#: (torchvision's metadata `num_params`), without it (aux_loss=False), conv multiply-adds at
#: 520×520 with the aux head in G (torchvision's metadata `_ops`), without it)
REFERENCE = {
    "fcn_resnet50": ("FCN_ResNet50_Weights", 35_322_218, 32_957_013, 152.717, 142.726),
    "deeplabv3_resnet50": ("DeepLabV3_ResNet50_Weights", 42_004_074, 39_638_869, 178.722, 168.731),
}
MODELS = sorted(REFERENCE)


def reference(torchvision, name: str, aux_loss: bool = True) -> torch.nn.Module:
    torch.manual_seed(0)
    build = getattr(torchvision.segmentation, name)
    return build(weights=None, weights_backbone=None, aux_loss=aux_loss)


def conv_macs(graph) -> int:
    """Multiply-adds of the convs of `graph` (aux heads included where it has them)."""
    total = 0
    for n in graph.nodes():
        if graph.op(n) == "conv":
            a = graph.attrs(n)
            c, h, w = graph.shape(n)
            kh, kw = a["kernel"]
            total += c * h * w * (a["in_channels"] // a["groups"]) * kh * kw
    return total


@pytest.mark.parametrize("name", MODELS)
def test_same_params_and_multiply_adds_as_torchvision(name: str, torchvision):
    weights, params, params_no_aux, gmacs, gmacs_no_aux = REFERENCE[name]
    standard = incept_dsl.load(FILE, model=name)
    assert standard.inputs == {"image": (3, 520, 520)}
    assert standard.outputs == {"out": (21, 520, 520)}
    assert standard.aux == {"aux": ((21, 520, 520), 0.5)}
    assert standard.param_count() == params
    assert standard.param_count(include_aux=False) == params_no_aux

    ref = reference(torchvision, name)
    assert sum(p.numel() for p in ref.parameters()) == params
    assert getattr(torchvision.segmentation, weights).DEFAULT.meta["num_params"] == params
    head = sum(p.numel() for p in ref.aux_classifier.parameters())
    assert params - head == params_no_aux
    no_aux = reference(torchvision, name, aux_loss=False)
    assert sum(p.numel() for p in no_aux.parameters()) == params_no_aux

    assert getattr(torchvision.segmentation, weights).DEFAULT.meta["_ops"] == gmacs
    assert round(conv_macs(standard.graph) / 1e9, 3) == gmacs
    assert round(conv_linear_macs(standard) / 1e9, 3) == gmacs_no_aux


def _conv_layout(module: torch.nn.Module) -> list[tuple]:
    return [
        (m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation)
        + (m.groups, m.bias is not None)
        for m in module.modules()
        if isinstance(m, torch.nn.Conv2d)
    ]


@pytest.mark.parametrize("name", MODELS)
def test_every_conv_as_in_torchvision(name: str, torchvision):
    """Channels, kernel, stride, padding, dilation, groups and bias of every conv, in order
    (backbone, head, aux head): torchvision's dilated stages (the first block of layer3 at
    dilation 1, of layer4 at 2, stride-1 projections) and the ASPP rates 12, 24, 36."""
    ours = incept_dsl.load(FILE, model=name, params={"size": 64}).to_torch()
    theirs = _conv_layout(reference(torchvision, name))
    assert _conv_layout(ours) == theirs
    dilations = sorted({conv[5][0] for conv in theirs})
    assert dilations == ([1, 2, 4, 12, 24, 36] if name.startswith("deeplab") else [1, 2, 4])


def pair(torchvision, name: str):
    """(reference, our -O0 module, our Model at SIZE) with the reference's weights in ours."""
    ref = reference(torchvision, name)
    model = incept_dsl.load(FILE, model=name, params={"size": SIZE})
    torch.manual_seed(0)
    ours = model.to_torch()
    randomize_batchnorm(ref, (3, SIZE, SIZE))
    incept_dsl.copy_weights(ref, ours)
    return ref.eval(), ours.eval(), model


@pytest.fixture(scope="module", params=MODELS)
def paired(request, torchvision):
    return request.param, *pair(torchvision, request.param)


def _inputs() -> torch.Tensor:
    return torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


def test_same_outputs_as_torchvision_at_every_level_and_in_onnxruntime(paired):
    """`out` at -O0, -O1 and -O2; `out` and `aux` in onnxruntime (the export keeps the aux head,
    which torchvision computes in evaluation too)."""
    _, ref, ours, model = paired
    x = _inputs()
    with torch.no_grad():
        theirs = ref(x)
        assert list(theirs) == ["out", "aux"]
        assert_informative(theirs["out"])
        assert_informative(theirs["aux"])
        mine = ours(x)
        assert mine.shape == (2, 21, SIZE, SIZE)
        assert rel_diff(mine, theirs["out"]) < RTOL
        state = ours.state_dict()
        for level in (1, 2):
            net = model.to_torch(opt_level=level, state_dict=state)
            assert rel_diff(net(x), theirs["out"]) < RTOL, f"-O{level}"

    proto = model.to_onnx(state_dict={k: v.numpy() for k, v in state.items()}, keep_aux=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    session = ort.InferenceSession(
        proto.SerializeToString(), opts, providers=["CPUExecutionProvider"]
    )
    names = [o.name for o in session.get_outputs()]
    assert names == ["out", "aux"]
    outs = session.run(None, {proto.graph.input[0].name: x.numpy()})
    for head, out in zip(names, outs, strict=True):
        assert rel_diff(torch.from_numpy(np.asarray(out)), theirs[head]) < RTOL, head


def _train(net: torch.nn.Module, x: torch.Tensor, frozen_bn: bool, seed: int = 7):
    """`net`'s training-mode outputs on `x` (batch norms in eval mode if `frozen_bn`), with the
    random numbers of `seed`."""
    net.train()
    if frozen_bn:
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.eval()
    torch.manual_seed(seed)
    with torch.no_grad():
        return net(x)


@pytest.mark.parametrize("frozen_bn", [True, False], ids=["frozen_bn", "batch_stats"])
def test_both_heads_in_training_mode(paired, frozen_bn: bool):
    """(out, aux) in torchvision's order and names; dropout draws the same random numbers in the
    same order on both sides (a different seed changes the outputs). With batch statistics the
    running statistics are updated alike."""
    _, ref, ours, _ = paired
    ref, ours = copy.deepcopy(ref), copy.deepcopy(ours)  # the fixture stays in eval mode
    x = _inputs()
    theirs = _train(ref, x, frozen_bn)
    mine = _train(ours, x, frozen_bn)
    assert mine._fields == tuple(theirs) == ("out", "aux")
    for head in mine._fields:
        assert_informative(theirs[head])
        assert rel_diff(getattr(mine, head), theirs[head]) < RTOL, head
    if frozen_bn:
        other = _train(ours, x, frozen_bn, seed=8)
        for head in mine._fields:
            assert rel_diff(getattr(other, head), theirs[head]) > 1e-3, head
    else:
        ref_bns = [m for m in ref.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        our_bns = [m for m in ours.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        assert len(our_bns) == len(ref_bns)
        for a, b in zip(ref_bns, our_bns, strict=True):
            assert rel_diff(b.running_mean, a.running_mean) < RTOL
            assert rel_diff(b.running_var, a.running_var) < RTOL


def test_copy_weights_from_a_state_dict(paired):
    """A bare state_dict (a checkpoint: its key order backbone, classifier, aux_classifier is the
    execution order) gives every tensor the module gave."""
    _, ref, ours, model = paired
    fresh = model.to_torch()
    incept_dsl.copy_weights(ref.state_dict(), fresh)
    want = ours.state_dict()
    got = fresh.state_dict()
    assert list(got) == list(want)
    assert all(torch.equal(got[k], want[k]) for k in want)
