"""Every bundled model starts trainable under the default initialisation (`torch_init`).

The bound: on a random normal batch, the -O0 module's initial logits have a standard deviation in
[0.05, 3]. For logits of std s the expected cross-entropy against random labels is about
log(classes) + s^2 / 2, so s <= 3 keeps it within ~4.5 nats of log(classes) (a near-uniform
prediction, no saturated softmax; the old `kaiming` default gave GoogLeNet s = 31, a loss of 131),
and s >= 0.05 is far above what a vanished signal leaves (`trunc_normal`: 1e-12; PyTorch's
defaults: 1e-3 to 1e-10 for the deep models). Eval mode is the strict case: batch norm's initial
running statistics (0/1) do not normalise, so nothing hides a growing or vanishing signal.
"""

from __future__ import annotations

import math
import time

import pytest
import torch
import torch.nn.functional as F
from helpers import model

import incept_dsl
from incept_dsl.backends.torch.init_schemes import (
    DEFAULT_INIT,
    INIT_SCHEMES,
    init_lines,
    residual_branch_ends,
)
from incept_dsl.frontend.loader import Loader
from incept_dsl.resources import bundled_architectures

LOW, HIGH = 0.05, 3.0  # logit std bound (module docstring)
CE_SLACK = 5.0  # cross-entropy within log(classes) + 5 (HIGH^2 / 2 = 4.5, plus sampling)
#: Bundled models that `fan_in` starts too loud, and why (a known limit, checked strictly: once
#: fixed, the model must leave this list). fan_in gives every conv the ReLU gain; ShuffleNet V2's
#: depthwise convs have no activation after them and no residual add renormalises, so the
#: variance grows unit by unit. SqueezeNet's classifier is a 1×1 conv, which fan_in initialises as
#: a conv (torchvision draws that conv from N(0, 0.01), as fan_in does a linear).
KNOWN_LOUD = {"shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "squeezenet1_0", "squeezenet1_1"}


def _bundled() -> list[tuple[str, str]]:
    """(file, model) for every model of every bundled architecture."""
    return [
        (str(path), m.name)
        for path in bundled_architectures()
        for m in Loader().load_path(path).program.models
    ]


def test_the_default_is_fan_in_and_every_scheme_is_described():
    assert DEFAULT_INIT == "fan_in" and set(INIT_SCHEMES) >= {
        "fan_in",
        "kaiming",
        "trunc_normal",
        "torch",
    }
    with pytest.raises(ValueError, match="unknown init scheme"):
        init_lines("xavier")


#: dense-prediction models whose input side is a parameter run at 128×128 here: the weights'
#: scales do not depend on it, and at full size they would take most of this test's time
SMALLER = {name: {"size": 128} for name in ("fcn_resnet50", "deeplabv3_resnet50", "unet")}
SMALLER["unet_paper"] = {"size": 204}  # a valid tile: 188 + 16k


def test_every_bundled_model_starts_with_logits_of_order_one():
    bundled = _bundled()
    assert len(bundled) >= 46  # incept-dsl list: 21 files, 46 models
    start, report, bad = time.perf_counter(), [], []
    for path, name in bundled:
        model = incept_dsl.load(path, model=name, params=SMALLER.get(name))
        torch.manual_seed(0)
        net = model.to_torch().eval()
        assert f"Weight initialisation: {DEFAULT_INIT} (" in net.__doc__
        gen = torch.Generator().manual_seed(1)
        xs = [torch.randn(2, *shape, generator=gen) for shape in model.inputs.values()]
        with torch.no_grad():
            out = net(*xs)
        logits = out if isinstance(out, torch.Tensor) else out[0]
        classes = logits.shape[1]
        # one label per sample, or per pixel for dense heads (segmentation: N×C×H×W logits)
        labels = torch.randint(classes, (2, *logits.shape[2:]), generator=gen)
        std = logits.std().item()
        ce = F.cross_entropy(logits, labels).item()
        report.append(
            f"{name}: std {std:.3g}, cross-entropy {ce:.2f} (log C {math.log(classes):.2f})"
        )
        if name in KNOWN_LOUD:
            if std <= HIGH:
                bad.append(f"{report[-1]} (now inside the bound: remove it from KNOWN_LOUD)")
        elif not (LOW <= std <= HIGH and abs(ce - math.log(classes)) <= CE_SLACK):
            bad.append(report[-1])
        del net, out
    assert not bad, "\n".join(["outside the bound:", *bad, "all:", *report])
    print(f"{len(bundled)} models in {time.perf_counter() - start:.1f} s", *report, sep="\n")


def test_residual_branches_start_as_the_identity():
    m = incept_dsl.load("resnet.incept", model="resnet50")
    norms = residual_branch_ends(m.graph)
    assert len(norms) == 16  # 3 + 4 + 6 + 3 bottlenecks, the projecting ones' main branch too
    assert all(n.endswith("conv_3.bn") for n in norms)
    assert "layer1.bottleneck_down_1.main.conv_3.bn" in norms
    assert not any("shortcut" in n for n in norms)
    torch.manual_seed(0)
    net = m.to_torch()
    for name in norms:
        assert not net.get_submodule(name).weight.any()
    assert net.get_submodule("layer1.bottleneck_down_1.shortcut.conv_1.bn").weight.all()
    # the other schemes keep torchvision's exact behaviour: no zeroed batch norm
    assert not any("get_submodule" in line for line in init_lines("kaiming", m.graph))


def test_scaled_residual_branches_start_at_zero_too():
    m = incept_dsl.load("inception_resnet_v2.incept", model="inception_resnet_v2")
    ends = residual_branch_ends(m.graph)  # a biased 1x1 conv, then `scale`, then the add
    assert len(ends) == 40  # 10 block35, 20 block17, 10 block8
    torch.manual_seed(0)
    net = m.to_torch()
    for name in ends:
        conv = net.get_submodule(name)
        assert isinstance(conv, torch.nn.Conv2d) and not conv.weight.any() and not conv.bias.any()


@pytest.mark.parametrize(
    ("file", "name"), [("googlenet.incept", "googlenet_tv"), ("vgg.incept", "vgg11")]
)
def test_models_without_residual_branches_zero_nothing(file, name):
    assert residual_branch_ends(incept_dsl.load(file, model=name).graph) == []


BRANCHES = """model r {
    input x: 8x8x8
    defaults conv(bn = true, act = relu, bias = false)
    a = x -> conv(8, 3) -> residual { conv(8, 3) -> conv(8, 3, act = none) } -> relu
    b = a -> add { p: conv(8, 1, act = none); q: conv(8, 1, act = none) }
    output y = b -> avgpool(global) -> flatten -> linear(3)
}
"""

SIDE = """model h {
    input x: 8x8x8
    c = x -> conv(8, 3, act = none)
    output side = c
    output y = add(x, c) -> avgpool(global) -> flatten -> linear(3)
}
"""


def test_only_a_branch_beside_a_shallower_operand_starts_at_zero():
    # the residual's last batch norm, not the two equally deep branches of the `add`
    assert residual_branch_ends(model(BRANCHES).graph) == ["conv_3.bn"]
    # a branch's layer whose tensor is also a head is never zeroed (the head would read 0)
    assert residual_branch_ends(model(SIDE).graph) == []
    without_head = model(SIDE.replace("    output side = c\n", ""))
    assert residual_branch_ends(without_head.graph) == ["conv_1"]
    torch.manual_seed(0)
    net = without_head.to_torch()
    assert not net.conv_1.weight.any() and not net.conv_1.bias.any()
    assert "nn.init.zeros_(self.get_submodule(name).weight)" in without_head.torch_source()
    assert "get_submodule" not in without_head.torch_source(init="kaiming")


SE = """
block se = mul {
    identity
    avgpool(global) -> conv(in_channels // 4, 1, act = relu) -> conv(in_channels, 1, act = hardsigmoid)
}
model m {
    input x: 8x6x6
    output y = x -> conv(8, 3, bn = true, act = relu) -> se -> avgpool(global) -> flatten
        -> linear(3)
}
"""


def test_squeeze_and_excitation_gates_start_open_under_fan_in_only():
    from incept_dsl.backends.init_numpy import init_state
    from incept_dsl.backends.torch.init_schemes import GATE_BIAS, open_gates

    m = incept_dsl.loads(SE, name="se.incept")
    assert open_gates(m.graph) == ["se_1.branch_2.conv_2"]
    net = m.to_torch()
    assert torch.equal(net.get_submodule("se_1.branch_2.conv_2").bias, torch.full((8,), GATE_BIAS))
    assert not net.get_submodule("se_1.branch_2.conv_1").bias.any()  # the squeeze stays at 0
    assert (init_state(m.graph)["se_1.branch_2.conv_2.bias"] == GATE_BIAS).all()
    with torch.no_grad():  # the gate is exactly 1 at first: the block passes its input through
        gate = net.get_submodule("se_1.branch_2.conv_2")
        assert torch.equal(F.hardsigmoid(gate(torch.zeros(2, 2, 1, 1))), torch.ones(2, 8, 1, 1))
    for scheme in ("kaiming", "trunc_normal"):
        other = m.to_torch(init=scheme)
        assert not other.get_submodule("se_1.branch_2.conv_2").bias.any()
        assert not init_state(m.graph, scheme)["se_1.branch_2.conv_2.bias"].any()


SCORES = """
model m {
    input x: 3x16x16
    f = x -> conv(8, 3, act = relu) -> maxpool(2)
    output seg = f -> conv(4, 1) -> upsample(scale = 2, mode = bilinear) -> crop(12)
    aux side = f -> conv(4, 1, act = relu) weight 0.5
    output both = f -> conv(4, 1) -> avgpool(global) -> flatten -> linear(3)
}
"""


def test_a_conv_that_scores_the_classes_starts_as_a_linear_classifier_under_fan_in_only():
    """The per-pixel classifier (no activation after it, weightless ops to its head) is drawn
    N(0, 0.01) by the module and by the numpy initialisation; a conv with an activation after it,
    or with a linear after it, keeps the ReLU-gain scheme."""
    from incept_dsl.backends.init_numpy import init_state
    from incept_dsl.backends.torch.init_schemes import scoring_convs

    m = incept_dsl.loads(SCORES, name="scores.incept")
    assert scoring_convs(m.graph) == ["conv_2"]
    torch.manual_seed(0)
    net = m.to_torch()
    std = {n: float(net.get_submodule(n).weight.detach().std()) for n in ("conv_2", "conv_4")}
    numpy = init_state(m.graph)
    assert abs(std["conv_2"] - 0.01) < 0.003 and abs(numpy["conv_2.weight"].std() - 0.01) < 0.003
    assert abs(std["conv_4"] - (2 / 8) ** 0.5) < 0.15  # Kaiming fan_in 8, ReLU gain
    kaiming = m.to_torch(init="kaiming").get_submodule("conv_2").weight.detach().std()
    assert abs(float(kaiming) - (2 / 4) ** 0.5) < 0.2  # fan_out 4: not the scoring rule
    unet = incept_dsl.load("unet.incept", model="unet_paper")
    assert scoring_convs(unet.graph) == ["classifier_1.conv_1"]


def test_an_se_gated_residual_branch_zeroes_the_batch_norm_before_the_gate():
    """timm's zero_init_last: SE-ResNet's branch conv -> bn -> SE starts at 0 through its bn."""
    text = SE.split("model")[0] + (
        "model r { input x: 8x6x6\n defaults conv(bn = true, act = relu)\n"
        " output y = x -> repeat(3) { residual { conv(8, 3) -> conv(8, 3, act = none) -> se } } }"
    )
    m = incept_dsl.loads(text, name="r.incept")
    ends = residual_branch_ends(m.graph)
    assert ends == [f"repeat_1.{i}.conv_2.bn" for i in range(3)]
    torch.manual_seed(0)
    net = m.to_torch().eval()
    x = torch.randn(2, 8, 6, 6)
    with torch.no_grad():
        assert torch.equal(net(x), x)  # every block starts as the identity
