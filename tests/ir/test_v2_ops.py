"""The v2 ops of LANGUAGE.md section 11 added after the activations and `mul`: `channel_shuffle`,
`layer_scale`, `groupnorm` and `stochastic_depth`. Each is checked against the real thing: the
module's outputs against a PyTorch expression written here on the module's own weights,
onnxruntime against PyTorch, -O1/-O2 against -O0, parameter counts against PyTorch's, the
formatter's round trip, and located errors whose hint says the fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import incept_dsl
from incept_dsl.ir.ops import OPS, infer_shape, macs, param_count
from incept_dsl.ir.shapes import ShapeProblem
from tests.ir.v2_support import (
    error_of as _error,
)
from tests.ir.v2_support import (
    levels_agree as _levels_agree,
)
from tests.ir.v2_support import (
    onnx_agrees as _onnx_agrees,
)
from tests.ir.v2_support import (
    ops_of as _ops,
)
from tests.ir.v2_support import (
    randomized as _randomized,
)
from tests.ir.v2_support import (
    round_trips as _round_trips,
)
from tests.ir.v2_support import (
    x_ as _x,
)

# ---- channel_shuffle ------------------------------------------------------------------------------
SHUFFLE = """
model shuffle {
    input x: 3x8x8
    y = x -> conv(12, 3, groups = 1, bn = true, act = relu) -> channel_shuffle(3)
        -> conv(12, 1, groups = 3, bn = true) -> channel_shuffle(groups = 4)
    output z = y -> avgpool(global) -> flatten -> linear(5)
}
"""


def test_channel_shuffle_op_table_and_shape_rule() -> None:
    op = OPS["channel_shuffle"]
    assert (op.attrs, op.family, op.weighted, op.arity) == (("groups",), "reshape", False, 1)
    assert param_count("channel_shuffle", {"groups": 3}) == (0, 0)
    assert infer_shape("channel_shuffle", {"groups": 3}, [(12, 5, 7)]) == (12, 5, 7)
    assert macs("channel_shuffle", {"groups": 3}, [(12, 5, 7)], (12, 5, 7)) == 0
    with pytest.raises(ShapeProblem, match="cannot split 12 channels into 5 equal groups"):
        infer_shape("channel_shuffle", {"groups": 5}, [(12, 5, 7)])
    with pytest.raises(ShapeProblem, match="needs an image tensor"):
        infer_shape("channel_shuffle", {"groups": 2}, [(12,)])


@pytest.mark.parametrize(("c", "g"), [(12, 3), (12, 4), (8, 1), (8, 8), (6, 2)])
def test_channel_shuffle_is_torch_s(c: int, g: int) -> None:
    m = incept_dsl.loads(f"model m {{ input x: {c}x3x5\n output y = x -> channel_shuffle({g}) }}")
    assert _ops(m) == [("channel_shuffle_1", "channel_shuffle", (c, 3, 5))]
    x = _x(2, c, 3, 5)
    with torch.no_grad():
        assert torch.equal(m.to_torch()(x), torch.nn.ChannelShuffle(g)(x))
    assert "unflatten(1, " in m.torch_source() and "ChannelShuffle" not in m.torch_source()


def test_channel_shuffle_in_a_network_levels_and_onnx() -> None:
    m = incept_dsl.loads(SHUFFLE)
    x = _x(3, 3, 8, 8)
    net0 = _levels_agree(m, x)
    s = net0.state_dict()
    with torch.no_grad():
        y = F.conv2d(x, s["conv_1.conv.weight"], padding=1)
        y = F.batch_norm(
            y,
            s["conv_1.bn.running_mean"],
            s["conv_1.bn.running_var"],
            s["conv_1.bn.weight"],
            s["conv_1.bn.bias"],
        )
        y = torch.nn.ChannelShuffle(3)(F.relu(y))
        y = F.conv2d(y, s["conv_2.conv.weight"], groups=3)
        y = F.batch_norm(
            y,
            s["conv_2.bn.running_mean"],
            s["conv_2.bn.running_var"],
            s["conv_2.bn.weight"],
            s["conv_2.bn.bias"],
        )
        y = torch.nn.ChannelShuffle(4)(y).mean((2, 3))
        want = F.linear(y, s["linear_1.weight"], s["linear_1.bias"])
        torch.testing.assert_close(net0(x), want, rtol=1e-5, atol=1e-5)
    assert m.param_count() == sum(p.numel() for p in net0.parameters())
    protos = _onnx_agrees(m, x)
    types = [n.op_type for n in protos[0].graph.node if n.name.startswith("channel_shuffle_1")]
    assert types == ["Reshape", "Transpose", "Reshape"]
    _round_trips(SHUFFLE)
    assert "Channel Shuffle, groups 3" in m.to_dot()


@pytest.mark.parametrize(
    ("body", "shape", "message", "hint"),
    [
        (
            "channel_shuffle(5)",
            "8x6x6",
            "cannot split 8 channels into 5 equal groups",
            "1, 2, 4, 8",
        ),
        ("channel_shuffle(0)", "8x6x6", "'groups' must be", None),
        ("flatten -> channel_shuffle(2)", "8x6x6", "needs an image tensor", None),
        ("channel_shuffle", "8x6x6", "needs its argument 'groups'", None),
    ],
)
def test_channel_shuffle_mistakes_are_located(body, shape, message, hint) -> None:
    err = _error(body, shape)
    assert err.line == 3 and message in err.message, err.message
    if hint is not None:
        assert err.hint is not None and hint in err.hint


# ---- layer_scale ----------------------------------------------------------------------------------
#: a layer_scale after a conv (folds at -O1), after a conv with bn and no bias (folds into the
#: folded conv), after an activation (stays), after a conv another op reads too (stays), on a
#: flat tensor after a linear (folds), inside a residual branch.
LAYER_SCALE = """
model ls {
    input x: 3x8x8
    a = x -> conv(8, 3) -> layer_scale(init = 0.5)
    b = a -> conv(8, 1, bn = true) -> layer_scale -> relu -> layer_scale(2.0)
    c = b -> residual { conv(8, 3, act = gelu) -> conv(8, 1) -> layer_scale(0.1) }
    s = c -> conv(8, 1)
    t = s -> layer_scale(0.3)
    d = add(s, t)
    output y = d -> avgpool(global) -> flatten -> linear(6) -> layer_scale(1.5) -> linear(4)
}
"""


def test_layer_scale_op_table_and_shape_rule() -> None:
    op = OPS["layer_scale"]
    assert (op.attrs, op.tensors, op.family) == (("channels", "init"), ("gamma",), "other")
    a = {"channels": 12, "init": 1e-6}
    assert op.state(a) == (("gamma", (12,)),) and param_count("layer_scale", a) == (12, 0)
    assert infer_shape("layer_scale", a, [(12, 5, 7)]) == (12, 5, 7)
    assert infer_shape("layer_scale", a, [(12,)]) == (12,)
    assert macs("layer_scale", a, [(12, 5, 7)], (12, 5, 7)) == 12 * 5 * 7
    with pytest.raises(ShapeProblem, match="expects 12 channels; got 5"):
        infer_shape("layer_scale", a, [(5, 5, 7)])


def test_layer_scale_multiplies_each_channel_by_its_gamma() -> None:
    m = incept_dsl.loads(LAYER_SCALE)
    net = m.to_torch()
    for key, init in [("layer_scale_1", 0.5), ("layer_scale_2", 1e-6), ("layer_scale_6", 1.5)]:
        gamma = net.state_dict()[f"{key}.gamma"]
        assert torch.equal(gamma, torch.full_like(gamma, init)), key
    net = _randomized(net)
    s = net.state_dict()
    assert torch.equal(net.layer_scale_1.gamma, s["layer_scale_1.gamma"])
    src = m.torch_source()
    assert "x = x * self.layer_scale_1.gamma.view(-1, 1, 1)  # 8×8×8" in src
    assert "x = x * self.layer_scale_6.gamma  # 6" in src
    assert m.param_count() == sum(p.numel() for p in net.parameters())
    rows = {r.name: r for r in m.summary().layers}
    assert (rows["layer_scale_1"].params, rows["layer_scale_1"].macs) == (8, 8 * 8 * 8)
    _round_trips(LAYER_SCALE)
    assert "LayerScale 0.5" in m.to_dot()


def test_layer_scale_on_a_conv_matches_a_written_expression() -> None:
    m = incept_dsl.loads(
        "model m { input x: 3x6x6\n output y = x -> conv(5, 3) -> layer_scale -> flatten"
        " -> linear(4) -> layer_scale(0.5) }"
    )
    net = _randomized(m.to_torch())
    s = net.state_dict()
    x = _x(2, 3, 6, 6)
    with torch.no_grad():
        y = F.conv2d(x, s["conv_1.weight"], s["conv_1.bias"], padding=1)
        y = (y * s["layer_scale_1.gamma"][:, None, None]).flatten(1)
        want = F.linear(y, s["linear_1.weight"], s["linear_1.bias"]) * s["layer_scale_2.gamma"]
        torch.testing.assert_close(net(x), want, rtol=1e-6, atol=1e-7)


def test_layer_scale_folds_at_o1_and_levels_agree() -> None:
    from incept_dsl.driver import lower

    m = incept_dsl.loads(LAYER_SCALE)
    _levels_agree(m, _x(3, 3, 8, 8))
    g, _ = lower(m, 1, None, None)
    left = sorted(g.scope(n) for n in g.nodes("layer_scale"))
    assert left == ["layer_scale_3", "layer_scale_5"]  # after relu; after a shared conv


def test_layer_scale_onnx_and_every_init_scheme() -> None:
    from incept_dsl.backends.init_numpy import init_state

    m = incept_dsl.loads(LAYER_SCALE)
    protos = _onnx_agrees(m, _x(2, 3, 8, 8))
    inits = {i.name: tuple(i.dims) for i in protos[0].graph.initializer}
    assert inits["layer_scale_1.gamma"] == (8, 1, 1) and inits["layer_scale_6.gamma"] == (6,)
    for scheme in ("fan_in", "kaiming", "trunc_normal", "torch"):
        state = init_state(m.graph, scheme)
        assert np.all(state["layer_scale_3.gamma"] == np.float32(2.0))
        assert np.all(state["layer_scale_2.gamma"] == np.float32(1e-6))
        net = m.to_torch(init=scheme)
        assert torch.all(net.state_dict()["layer_scale_3.gamma"] == 2.0)
        net.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)


def test_fan_in_zeroes_no_layer_of_a_branch_that_ends_in_layer_scale() -> None:
    from incept_dsl.backends.torch.init_schemes import residual_branch_ends

    m = incept_dsl.loads(LAYER_SCALE)
    assert residual_branch_ends(m.graph) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("layer_scale(init = same)", "layer_scale's 'init' must be a number"),
        ("layer_scale(1, 2)", "takes at most 1 positional argument"),
        ("layer_scale(gamma = 1)", "'layer_scale' has no parameter 'gamma'"),
    ],
)
def test_layer_scale_mistakes_are_located(body: str, message: str) -> None:
    err = _error(body)
    assert err.line == 3 and message in err.message, err.message


# ---- groupnorm ------------------------------------------------------------------------------------
GROUPNORM = """
model gn {
    input x: 3x8x8
    y = x -> conv(12, 3) -> groupnorm(4) -> relu -> conv(12, 1) -> groupnorm(groups = 12, eps = 1e-3)
        -> residual { conv(12, 3) -> groupnorm(1) }
    output z = y -> avgpool(global) -> flatten -> linear(5)
}
"""


def test_groupnorm_op_table_and_shape_rule() -> None:
    op = OPS["groupnorm"]
    assert (op.attrs, op.tensors, op.family) == (
        ("groups", "num_channels", "eps"),
        ("weight", "bias"),
        "norm",
    )
    a = {"groups": 4, "num_channels": 12, "eps": 1e-5}
    assert param_count("groupnorm", a) == (24, 0)
    assert infer_shape("groupnorm", a, [(12, 5, 7)]) == (12, 5, 7)
    assert macs("groupnorm", a, [(12, 5, 7)], (12, 5, 7)) == macs(
        "batchnorm", {"num_features": 12, "eps": 1e-5, "momentum": 0.1}, [(12, 5, 7)], (12, 5, 7)
    )
    with pytest.raises(ShapeProblem, match="needs an image tensor"):
        infer_shape("groupnorm", a, [(12,)])


def test_groupnorm_is_torch_s_group_norm() -> None:
    m = incept_dsl.loads(GROUPNORM)
    net = _levels_agree(m, _x(3, 3, 8, 8))
    s = net.state_dict()
    x = _x(3, 3, 8, 8)
    with torch.no_grad():
        y = F.conv2d(x, s["conv_1.weight"], s["conv_1.bias"], padding=1)
        y = F.relu(F.group_norm(y, 4, s["groupnorm_1.weight"], s["groupnorm_1.bias"], 1e-5))
        y = F.conv2d(y, s["conv_2.weight"], s["conv_2.bias"])
        y = F.group_norm(y, 12, s["groupnorm_2.weight"], s["groupnorm_2.bias"], 1e-3)
        r = F.conv2d(y, s["conv_3.weight"], s["conv_3.bias"], padding=1)
        w, b = s["groupnorm_3.weight"], s["groupnorm_3.bias"]
        y = y + F.group_norm(r, 1, w, b, 1e-5)
        want = F.linear(y.mean((2, 3)), s["linear_1.weight"], s["linear_1.bias"])
        torch.testing.assert_close(net(x), want, rtol=1e-5, atol=1e-5)
    assert isinstance(net.groupnorm_1, torch.nn.GroupNorm) and net.groupnorm_2.eps == 1e-3
    assert m.param_count() == sum(p.numel() for p in net.parameters())
    assert m.summary().layers[1].params == 24
    _round_trips(GROUPNORM)
    assert "GroupNorm, groups 4" in m.to_dot()


def test_groupnorm_onnx_and_init() -> None:
    from incept_dsl.backends.init_numpy import init_state

    m = incept_dsl.loads(GROUPNORM)
    _onnx_agrees(m, _x(2, 3, 8, 8))
    for scheme in ("fan_in", "kaiming", "trunc_normal", "torch"):
        state = init_state(m.graph, scheme)
        assert np.all(state["groupnorm_1.weight"] == 1) and not state["groupnorm_1.bias"].any()
        m.to_torch(init=scheme).load_state_dict(
            {k: torch.from_numpy(v) for k, v in state.items()}, strict=True
        )
    # fan_in zeroes the residual branch's last layer, in numpy as in torch
    assert not init_state(m.graph)["groupnorm_3.weight"].any()
    assert not m.to_torch().state_dict()["groupnorm_3.weight"].any()


@pytest.mark.parametrize(
    ("body", "shape", "message", "hint"),
    [
        ("groupnorm(5)", "8x6x6", "cannot split 8 channels into 5 equal groups", "1, 2, 4, 8"),
        ("groupnorm(2, eps = 0)", "8x6x6", "groupnorm's 'eps' must be positive", "sqrt"),
        ("flatten -> groupnorm(2)", "8x6x6", "needs an image tensor", None),
        ("groupnorm", "8x6x6", "needs its argument 'groups'", None),
    ],
)
def test_groupnorm_mistakes_are_located(body, shape, message, hint) -> None:
    err = _error(body, shape)
    assert err.line == 3 and message in err.message, err.message
    if hint is not None:
        assert err.hint is not None and hint in err.hint


# ---- stochastic_depth -------------------------------------------------------------------------------
DEPTH = """
model sd {
    input x: 4x6x6
    y = x -> residual { conv(4, 3, act = relu) -> conv(4, 3) -> stochastic_depth(0.25) }
        -> residual { conv(4, 1) -> stochastic_depth(p = 0.5, mode = batch) }
    output z = y -> avgpool(global) -> flatten -> linear(6) -> stochastic_depth(0.0)
}
"""


def test_stochastic_depth_op_table_and_costs() -> None:
    op = OPS["stochastic_depth"]
    assert (op.attrs, op.weighted, op.family) == (("p", "mode"), False, "other")
    a = {"p": 0.2, "mode": "row"}
    assert infer_shape("stochastic_depth", a, [(4, 3, 3)]) == (4, 3, 3)
    assert macs("stochastic_depth", a, [(4, 3, 3)], (4, 3, 3)) == 0


def test_stochastic_depth_is_the_identity_in_eval_and_levels_agree() -> None:
    m = incept_dsl.loads(DEPTH)
    x = _x(4, 4, 6, 6)
    net = _levels_agree(m, x)
    s = net.state_dict()
    with torch.no_grad():
        r = F.relu(F.conv2d(x, s["conv_1.weight"], s["conv_1.bias"], padding=1))
        y = x + F.conv2d(r, s["conv_2.weight"], s["conv_2.bias"], padding=1)
        y = y + F.conv2d(y, s["conv_3.weight"], s["conv_3.bias"])
        want = F.linear(y.mean((2, 3)), s["linear_1.weight"], s["linear_1.bias"])
        torch.testing.assert_close(net(x), want, rtol=1e-5, atol=1e-5)
    assert m.param_count() == sum(p.numel() for p in net.parameters())
    _onnx_agrees(m, x)
    _round_trips(DEPTH)
    dot = m.to_dot()
    assert "Stochastic Depth 0.25" in dot and "Stochastic Depth 0.5 (batch)" in dot


@pytest.mark.parametrize("mode", ["row", "batch"])
@pytest.mark.parametrize("p", [0.3, 1.0, 0.0])
def test_stochastic_depth_in_training_drops_as_torchvision_does(p: float, mode: str) -> None:
    m = incept_dsl.loads(
        f"model m {{ input x: 3x2x2\n output y = x -> stochastic_depth({p}, mode = {mode}) }}"
    )
    net = m.to_torch().train()
    x = _x(64, 3, 2, 2)
    torch.manual_seed(7)
    got = net(x)
    if p == 0.0:
        assert torch.equal(got, x)
        return
    kept = (got != 0).flatten(1).any(1)
    if mode == "batch":
        assert kept.all() or not kept.any()
    if p == 1.0:
        assert not got.any()
    else:
        torch.testing.assert_close(got[kept], x[kept] / (1 - p))
        if mode == "row":  # each of 64 samples kept with probability 0.7
            assert 0.4 < float(kept.float().mean()) < 0.95
    with torch.no_grad():
        assert torch.equal(net.eval()(x), x)


def test_fan_in_zeroes_the_layer_before_stochastic_depth() -> None:
    from incept_dsl.backends.torch.init_schemes import residual_branch_ends

    m = incept_dsl.loads(DEPTH)
    assert residual_branch_ends(m.graph) == ["conv_2", "conv_3"]


@pytest.mark.parametrize(
    ("body", "message", "hint"),
    [
        ("stochastic_depth(1.5)", "stochastic_depth's 'p' must be a probability in [0, 1]", None),
        ("stochastic_depth(0.1, mode = rows)", "'mode' must be row or batch; got 'rows'", "row"),
        ("stochastic_depth(0.1, mode = 2)", "'mode' must be row or batch", None),
        ("stochastic_depth", "needs its argument 'p'", None),
    ],
)
def test_stochastic_depth_mistakes_are_located(body: str, message: str, hint) -> None:
    err = _error(body)
    assert err.line == 3 and message in err.message, err.message
    if hint is not None:
        assert err.hint is not None and hint in err.hint


# ---- upsample -----------------------------------------------------------------------------------------
UPSAMPLE = """
model up {
    input x: 3x5x6
    a = x -> conv(4, 3) -> upsample(scale = 2)
    b = x -> conv(4, 3) -> upsample(size = 10x12, mode = bilinear)
    c = x -> conv(4, 1) -> upsample(scale = 2, mode = bilinear, align_corners = true)
    output y = concat(a, b, c) -> upsample(size = 7x9) -> conv(6, 3)
}
"""


def test_upsample_op_table_shapes_and_costs() -> None:
    op = OPS["upsample"]
    assert op.attrs == ("scale", "size", "mode", "align_corners") and not op.weighted
    a = {"scale": 1.5, "size": None, "mode": "nearest", "align_corners": False}
    assert infer_shape("upsample", a, [(4, 5, 6)]) == (4, 7, 9)
    assert macs("upsample", a, [(4, 5, 6)], (4, 7, 9)) == 0
    b = {"scale": None, "size": (3, 2), "mode": "bilinear", "align_corners": True}
    assert infer_shape("upsample", b, [(4, 5, 6)]) == (4, 3, 2)
    assert macs("upsample", b, [(4, 5, 6)], (4, 3, 2)) == 4 * 3 * 2
    with pytest.raises(ShapeProblem, match="needs an image tensor"):
        infer_shape("upsample", a, [(12,)])


@pytest.mark.parametrize(
    ("args", "kw"),
    [
        ("scale = 2", {"scale_factor": 2.0, "mode": "nearest"}),
        ("scale = 1.5", {"scale_factor": 1.5, "mode": "nearest"}),
        ("size = 7x9", {"size": (7, 9), "mode": "nearest"}),
        ("scale = none, size = 4", {"size": (4, 4), "mode": "nearest"}),
        ("size = 3x2, mode = bilinear", {"size": (3, 2), "mode": "bilinear"}),
        ("scale = 2, mode = bilinear", {"scale_factor": 2.0, "mode": "bilinear"}),
        (
            "size = 11x4, mode = bilinear, align_corners = true",
            {"size": (11, 4), "mode": "bilinear", "align_corners": True},
        ),
    ],
)
def test_upsample_is_f_interpolate(args: str, kw: dict) -> None:
    m = incept_dsl.loads(f"model m {{ input x: 3x5x6\n output y = x -> upsample({args}) }}")
    x = _x(2, 3, 5, 6)
    with torch.no_grad():
        want = F.interpolate(x, **kw)
        got = m.to_torch()(x)
    assert got.shape[2:] == want.shape[2:] == m.graph.shape(m.graph.heads[0].node)[1:]
    assert torch.equal(got, want)


def test_upsample_in_a_network_levels_onnx_and_figures() -> None:
    m = incept_dsl.loads(UPSAMPLE)
    x = _x(2, 3, 5, 6)
    net = _levels_agree(m, x)
    assert m.param_count() == sum(p.numel() for p in net.parameters())
    protos = _onnx_agrees(m, x, opsets=(11, 13, 18, 20))
    assert [n.op_type for n in protos[0].graph.node].count("Resize") == 4
    _round_trips(UPSAMPLE)
    dot = m.to_dot()
    assert "Upsample ×2, nearest" in dot and "Upsample 10×12, bilinear" in dot
    rows = {r.name: r for r in m.summary().layers}
    assert rows["upsample_1"].macs == 0 and rows["upsample_2"].macs == 4 * 10 * 12


@pytest.mark.parametrize(
    ("body", "message", "hint"),
    [
        ("upsample", "exactly one of 'scale' and 'size'; got neither", "upsample(scale = 2)"),
        ("upsample(scale = 2, size = 4x4)", "got both", None),
        ("upsample(scale = 0.5)", "upsample's 'scale' must be at least 1", "size = HxW"),
        ("upsample(scale = 2, mode = cubic)", "'mode' must be nearest or bilinear", None),
        ("upsample(scale = 2, align_corners = true)", "needs mode = bilinear", "nearest"),
        ("flatten -> upsample(scale = 2)", "needs an image tensor", None),
    ],
)
def test_upsample_mistakes_are_located(body: str, message: str, hint) -> None:
    err = _error(body)
    assert err.line == 3 and message in err.message, err.message
    if hint is not None:
        assert err.hint is not None and hint in err.hint
