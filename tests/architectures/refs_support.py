"""Shared checks of the architecture tests against torchvision and timm: the conv + linear
multiply-adds of a model's IR, the relative difference of two outputs, and that a compared output
carries information."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import torch

import incept_dsl


def conv_linear_macs(model: incept_dsl.Model) -> int:
    """Multiply-adds of the convs and linears of `model`'s -O0 IR without aux heads."""
    g = model.optimized(0, keep_aux=False)
    total = 0
    for n in g.nodes():
        a = g.attrs(n)
        if g.op(n) == "conv":
            c, h, w = g.shape(n)
            kh, kw = a["kernel"]
            total += c * h * w * (a["in_channels"] // a["groups"]) * kh * kw
        elif g.op(n) == "linear":
            total += a["in_features"] * a["out_features"]
    return total


def rel_diff(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float((ours - theirs).norm() / theirs.norm())


def assert_informative(out: torch.Tensor) -> None:
    """The compared tensor is finite, non-zero and differs between the two samples."""
    assert torch.isfinite(out).all()
    assert out.norm() > 0
    assert (out[0] - out[1]).norm() > 1e-3 * out.norm()


def onnx_output(model: incept_dsl.Model, state: dict, x: torch.Tensor) -> torch.Tensor:
    """`model`'s ONNX export holding `state` (the -O0 state_dict), run in onnxruntime on `x`
    (two threads)."""
    proto = model.to_onnx(state_dict={k: v.numpy() for k, v in state.items()})
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    session = ort.InferenceSession(
        proto.SerializeToString(), opts, providers=["CPUExecutionProvider"]
    )
    (out,) = session.run(None, {proto.graph.input[0].name: x.numpy()})
    return torch.from_numpy(np.asarray(out))


def assert_same_at_every_level(
    model: incept_dsl.Model,
    ours: torch.nn.Module,
    theirs: torch.Tensor,
    x: torch.Tensor,
    rtol: float = 1e-4,
) -> None:
    """`theirs` (the reference's eval output on `x`) carries information, and `ours` (`model`'s
    -O0 module, eval mode) gives it within `rtol`; so do the -O1 and -O2 modules built from
    `ours`' state_dict and the ONNX export run in onnxruntime."""
    with torch.no_grad():
        assert_informative(theirs)
        assert rel_diff(ours.eval()(x), theirs) < rtol, "-O0"
        state = ours.state_dict()
        for level in (1, 2):
            net = model.to_torch(opt_level=level, state_dict=state)
            assert rel_diff(net(x), theirs) < rtol, f"-O{level}"
    assert rel_diff(onnx_output(model, state, x), theirs) < rtol, "onnxruntime"
