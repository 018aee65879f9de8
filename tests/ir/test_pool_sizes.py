"""The output-size rule of convolution and pooling (`incept_dsl.ir.shapes.conv_out`) against
PyTorch's own, on every small case: floor and ceil mode, padding, stride, windows larger than the
input (with ceil, a window may overhang the end: SqueezeNet's pools at torchvision's min_size)."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

import incept_dsl
from incept_dsl.errors import InceptError
from incept_dsl.ir.shapes import conv_out


def _torch_size(size: int, k: int, s: int, p: int, ceil: bool) -> int:
    try:
        return F.max_pool2d(torch.zeros(1, 1, size, size), k, s, p, ceil_mode=ceil).shape[-1]
    except RuntimeError:  # "output size is too small"
        return 0


def test_conv_out_is_pytorch_s_rule() -> None:
    cases = itertools.product(range(1, 10), range(1, 6), range(1, 4), range(3), (False, True))
    for size, k, s, p, ceil in cases:
        if 2 * p <= k:
            assert conv_out(size, k, s, p, 1, ceil) == _torch_size(size, k, s, p, ceil), (
                size,
                k,
                s,
                p,
                ceil,
            )


def test_a_ceil_pool_whose_window_overhangs_a_small_input_compiles() -> None:
    text = (
        "model m {{ input x: 1x2x2\n output y = x -> maxpool(3, stride = 2, padding = valid{}) }}"
    )
    m = incept_dsl.loads(text.format(", ceil = true"), name="p.incept")
    assert m.outputs["y"] == (1, 1, 1)
    assert m.to_torch()(torch.randn(2, 1, 2, 2)).shape == (2, 1, 1, 1)
    with pytest.raises(InceptError, match="does not fit the 2×2 input"):
        incept_dsl.loads(text.format(""), name="p.incept")
