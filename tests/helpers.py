"""Small helpers shared by tests."""

from __future__ import annotations

import incept_dsl

#: A small trainable program with batch norm, a concat and an aux head (examples' smoke tests).
TINY_AUX_PROGRAM = """
model tiny(classes = 10) {
    input image: 3x16x16
    defaults conv(bn = true, act = relu)
    x = image -> conv(16, 3) -> concat { conv(8, 1); conv(8, 1) -> conv(8, 3) } -> maxpool(2)
    aux side = x -> avgpool(global) -> flatten -> linear(classes) weight 0.3
    output logits = x -> conv(32, 3, stride = 2) -> avgpool(global) -> flatten -> linear(classes)
}
"""


#: LANGUAGE.md section 12's vision transformer, as written there.
VIT_TINY = """
block encoder_layer(heads, mlp) = residual { layernorm(eps = 1e-6) -> attention(heads) -> dropout(0.0) }
    -> residual { layernorm(eps = 1e-6) -> linear(mlp, act = gelu) -> dropout(0.0)
                  -> linear(in_channels) -> dropout(0.0) }

model vit_tiny(classes = 10) {
    input image: 3x32x32
    output logits = image -> conv(192, 4, stride = 4, padding = valid) -> tokens -> class_token
        -> pos_embedding -> repeat(4) { encoder_layer(3, 768) } -> layernorm(eps = 1e-6)
        -> select(0) -> linear(classes)
}
"""

#: A small program with a block, a residual and an aux head (the cost tables' tests).
SUMMARY_TINY = """
model tiny(classes = 10) {
    input image: 3x32x32
    defaults conv(bn = true, act = relu)
    block mixed(c) = concat {
        conv(c, 1)
        conv(c, 1) -> conv(c, 3)
        maxpool(3, stride = 1) -> conv(c, 1)
    }
    x = image -> conv(16, 3, stride = 2) -> maxpool(2) -> mixed(8) as mix
    y = x -> residual(scale = 0.5) { conv(24, 3, act = none) } -> relu
    aux side = y -> avgpool(global) -> flatten -> linear(classes) weight 0.3
    output logits = y -> avgpool(global) -> flatten -> dropout(0.2) -> linear(classes)
}
"""


#: A block and scopes whose names need escaping in LaTeX (the blocks-view and TikZ tests).
HOSTILE_BLOCKS = """
block a_b(c) = conv(c, 3) -> maxpool(2)

model m_x {
    input in_1: 3x32x32
    output out_1 = in_1 -> a_b(8) as c_d -> a_b(16) as e_f -> a_b(16) as g_h
        -> avgpool(global) -> flatten -> linear(10)
}
"""


def model(text: str, **kw):
    """Elaborate `text` (one model) into a Model."""
    return incept_dsl.loads(text, **kw)


def shapes(m) -> dict[str, tuple[int, ...]]:
    """{scope: shape} of every IR node."""
    g = m.graph
    return {g.scope(n): g.shape(n) for n in g.order()}


def randomize_batchnorm(net, size: tuple[int, ...], seed: int = 0) -> int:
    """Give every BatchNorm2d of `net` random affine parameters and non-trivial running statistics.

    The statistics are those of one training-mode pass over a random batch of `size` (momentum 1),
    then perturbed: well scaled through deep networks, yet neither 0 nor 1. Leaves `net` in eval
    mode; returns how many batch norms it changed.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    if bns:
        with torch.no_grad():
            for bn in bns:
                bn.weight.copy_(torch.rand(bn.weight.shape, generator=gen) + 0.5)
                bn.bias.copy_(torch.randn(bn.bias.shape, generator=gen) * 0.1)
                bn.momentum = 1.0
            net.train()
            net(torch.randn(2, *size, generator=gen))
            for bn in bns:
                bn.momentum = 0.1
                bn.running_mean.add_(torch.randn(bn.running_mean.shape, generator=gen) * 0.05)
                bn.running_var.mul_(torch.rand(bn.running_var.shape, generator=gen) * 0.5 + 0.75)
    net.eval()
    return len(bns)
