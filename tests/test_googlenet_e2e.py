"""End to end: the paper's GoogLeNet (Table 1) from architectures/googlenet.incept."""

from __future__ import annotations

import pytest
import torch

import incept_dsl


@pytest.fixture(scope="module")
def googlenet():
    return incept_dsl.load("googlenet.incept", model="googlenet")


@pytest.mark.parametrize(
    ("scope", "shape"),
    [
        ("conv_1", (64, 112, 112)),
        ("maxpool_1", (64, 56, 56)),
        ("conv_3", (192, 56, 56)),
        ("maxpool_2", (192, 28, 28)),
        ("inception_3a.concat_1", (256, 28, 28)),
        ("inception_3b.concat_1", (480, 28, 28)),
        ("maxpool_3", (480, 14, 14)),
        ("inception_4a.concat_1", (512, 14, 14)),
        ("inception_4b.concat_1", (512, 14, 14)),
        ("inception_4c.concat_1", (512, 14, 14)),
        ("inception_4d.concat_1", (528, 14, 14)),
        ("inception_4e.concat_1", (832, 14, 14)),
        ("maxpool_4", (832, 7, 7)),
        ("inception_5a.concat_1", (832, 7, 7)),
        ("inception_5b.concat_1", (1024, 7, 7)),
        ("avgpool_1", (1024, 1, 1)),
        ("linear_1", (1000,)),
    ],
)
def test_table1_stage_shapes(googlenet, scope, shape):
    g = googlenet.graph
    assert g.shape(g.by_scope(scope)) == shape


def test_parameters_about_6_8_million_without_aux(googlenet):
    # Table 1 sums to about 6.8 M; the sum of the per-layer formulas (with biases) is 7.0 M.
    assert 6.8e6 <= googlenet.param_count(include_aux=False) <= 7.05e6
    net = googlenet.to_torch()
    assert sum(p.numel() for p in net.parameters()) == googlenet.param_count()


def test_forward_and_backward(googlenet):
    torch.manual_seed(0)
    net = googlenet.to_torch(init="trunc_normal").train()
    out = net(torch.randn(2, 3, 224, 224))
    assert out._fields == ("aux1", "aux2", "logits")
    assert all(o.shape == (2, 1000) for o in out)
    total, parts = net.loss(out, torch.tensor([3, 7]))
    assert torch.allclose(total, parts["logits"] + 0.3 * parts["aux1"] + 0.3 * parts["aux2"])
    total.backward()
    assert all(p.grad is not None for p in net.parameters())
    net.eval()
    with torch.no_grad():
        assert net(torch.randn(1, 3, 224, 224)).shape == (1, 1000)


def test_loss_accepts_plain_tuples(googlenet):
    net = googlenet.to_torch(init="trunc_normal").train()
    out = net(torch.randn(2, 3, 224, 224))
    target = torch.tensor([1, 2])
    total, parts = googlenet.loss(out, target)
    total_plain, parts_plain = googlenet.loss(tuple(out), target)
    assert torch.equal(total, total_plain) and parts.keys() == parts_plain.keys()
    with pytest.raises(ValueError, match="2 outputs given"):
        googlenet.loss(tuple(out)[:2], target)
