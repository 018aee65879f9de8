"""The driver: `lower` is the contract every backend relies on (graph and weights at -O<level>),
and -O0 checkpoints deploy at -O2."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from helpers import model
from optimizer_helpers import outputs_agree, randomize

import incept_dsl
from incept_dsl.driver import lower
from incept_dsl.errors import InceptExportError, UsageError

PROGRAM = """model t {
    input x: 3x16x16
    defaults conv(bn = true, act = relu, bias = false)
    a = x -> conv(8, 3, stride = 2)
    output y = a -> concat { conv(4, 1); conv(4, 1) -> conv(6, 3); maxpool(3, stride = 1) }
                 -> avgpool(global) -> flatten -> linear(5)
    aux z = a -> conv(2, 1) -> avgpool(global) -> flatten weight 0.5
}
"""


def _state(m):
    net0 = randomize(m.to_torch())
    return net0, {k: v.numpy() for k, v in net0.state_dict().items()}


@pytest.mark.parametrize("level", [0, 1, 2])
def test_weights_are_keyed_like_the_optimised_module(level):
    m = model(PROGRAM)
    net0, state = _state(m)
    graph, weights = lower(m, level, False, state)
    assert weights is not None and [h.kind for h in graph.heads] == ["output"]
    net = m.to_torch(opt_level=level, state_dict=net0.state_dict())
    scopes = {graph.scope(n) for n in graph.nodes()}
    expected = {k: v for k, v in net.state_dict().items() if k.rsplit(".", 1)[0] in scopes}
    assert list(weights) == list(expected)
    assert level == 0 or len(expected) == len(net.state_dict())  # -O1/-O2 modules have no aux
    for k, v in weights.items():
        assert v.shape == tuple(expected[k].shape) and v.dtype == expected[k].numpy().dtype


def test_no_state_gives_no_weights_and_keep_aux_keeps_the_head():
    m = model(PROGRAM)
    graph, weights = lower(m, 2, keep_aux=True)
    assert weights is None and [h.name for h in graph.heads] == ["y", "z"]


def test_an_O0_checkpoint_deploys_at_every_level_with_the_same_outputs():
    m = model(PROGRAM)
    net0, _ = _state(m)
    sd = net0.state_dict()
    for level in (1, 2):
        outputs_agree(net0.eval(), m.to_torch(opt_level=level, state_dict=sd), m)


def test_a_state_dict_of_another_model_is_refused():
    m = model(PROGRAM)
    _, state = _state(m)
    with pytest.raises(InceptExportError, match="conv_1.bn.running_var"):
        lower(m, 1, False, {k: v for k, v in state.items() if k != "conv_1.bn.running_var"})
    with pytest.raises(UsageError, match="does not: extra.weight"):
        lower(m, 1, False, {**state, "extra.weight": np.zeros(3)})


def test_googlenet_paper_checkpoint_round_trip():
    import torch

    m = incept_dsl.load("googlenet.incept", model="googlenet")
    net0 = randomize(m.to_torch()).eval()
    net2 = m.to_torch(opt_level=2, state_dict=net0.state_dict())
    assert not net2.training and not any(p.requires_grad for p in net2.parameters())
    outputs_agree(net0, net2, m)
    with torch.no_grad():  # the -O2 module is channels-last inside, contiguous results outside
        x = torch.randn(1, 3, 224, 224)
        assert net2(x).shape == (1, 1000)


def test_the_module_does_not_import_torch():
    code = "import sys, incept_dsl.driver as o; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
