"""U-Net (architectures/unet.incept) against its paper and a PyTorch transcription of it.

Ronneberger, Fischer and Brox 2015, Figure 1: the shapes of every level at 572×572 (568, 280,
136, 64 and 28 on the way down; 56, 104, 200 and 392 after each up-convolution; 388×388 scores),
the crops of the skip connections, 23 convolutional layers and the parameter count those layers
give (written out here layer by layer). No library ships the paper's network, so the reference is
`PaperUNet` below, a direct transcription of section 2 into PyTorch (unpadded 3×3 convs with
ReLU, 2×2 max pooling, 2×2 stride-2 up-convolutions, centre crops, skip first in each
concatenation): with its weights copied into ours by `incept_dsl.copy_weights` the outputs agree
for the paper's model (at a 204×204 tile: its crops follow the tile size) and for the padded
`unet` at -O0, -O1, -O2 and in onnxruntime.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import incept_dsl
from tests.architectures.refs_support import assert_informative, onnx_output, rel_diff

FILE = "unet.incept"
RTOL = 1e-4
WIDTHS = (64, 128, 256, 512, 1024)

#: Figure 1: (side after each level's two convs on the way down, side after each up-convolution,
#: side after the two convs that follow it)
DOWN = (568, 280, 136, 64, 28)
UP = (56, 104, 200, 392)
AFTER_UP = (52, 100, 196, 388)


def hand_count(channels: int = 1, classes: int = 2) -> int:
    """Weights and biases of Figure 1's 23 layers: 18 3×3 convs, 4 2×2 up-convolutions, 1 1×1."""
    convs = [(channels, 64), (64, 64)]
    for a, b in zip(WIDTHS, WIDTHS[1:], strict=False):
        convs += [(a, b), (b, b)]  # down
    for a, b in zip(WIDTHS[::-1], WIDTHS[-2::-1], strict=False):
        convs += [(a, b), (b, b)]  # up: the concatenation has a = 2b channels
    ups = [(a, a // 2) for a in WIDTHS[:0:-1]]
    assert len(convs) + len(ups) + 1 == 23
    return (
        sum(9 * i * o + o for i, o in convs)
        + sum(4 * i * o + o for i, o in ups)
        + (64 * classes + classes)
    )


def _crop(x: torch.Tensor, side: int) -> torch.Tensor:
    top = (x.shape[-2] - side) // 2
    left = (x.shape[-1] - side) // 2
    return x[..., top : top + side, left : left + side]


class PaperUNet(nn.Module):
    """Section 2 of the paper in PyTorch; `padding = 1` gives the padded variant."""

    def __init__(self, channels: int = 1, classes: int = 2, padding: int = 0) -> None:
        super().__init__()

        def double(i: int, o: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(i, o, 3, padding=padding),
                nn.ReLU(),
                nn.Conv2d(o, o, 3, padding=padding),
                nn.ReLU(),
            )

        self.down = nn.ModuleList(
            [double(channels, 64)]
            + [double(a, b) for a, b in zip(WIDTHS, WIDTHS[1:], strict=False)]
        )
        pairs = list(zip(WIDTHS[::-1], WIDTHS[-2::-1], strict=False))
        self.ups = nn.ModuleList([nn.ConvTranspose2d(a, b, 2, stride=2) for a, b in pairs])
        self.up = nn.ModuleList([double(a, b) for a, b in pairs])
        self.score = nn.Conv2d(64, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, level in enumerate(self.down):
            x = level(x if i == 0 else nn.functional.max_pool2d(x, 2))
            skips.append(x)
        for up_conv, level, skip in zip(self.ups, self.up, skips[-2::-1], strict=True):
            x = up_conv(x)
            x = level(torch.cat([_crop(skip, x.shape[-1]), x], dim=1))
        return self.score(x)


def test_figure_1_shapes_and_the_23_layers():
    model = incept_dsl.load(FILE, model="unet_paper")
    assert model.param_count() == hand_count() == 31_030_658
    g = model.optimized(0)
    convs = [n for n in g.order() if g.op(n) in ("conv", "conv_transpose")]
    assert len(convs) == 23
    sides = [g.shape(n)[1] for n in convs]
    down = [sides[i] for i in range(1, 10, 2)]
    assert tuple(down) == DOWN
    ups = [g.shape(n)[1] for n in convs if g.op(n) == "conv_transpose"]
    assert tuple(ups) == UP
    crops = [(g.shape(g.inputs(n)[0])[1], g.shape(n)[1]) for n in g.order() if g.op(n) == "crop"]
    assert crops == [(64, 56), (136, 104), (280, 200), (568, 392)]  # "copy and crop"
    ops = [g.op(n) for n in convs]
    ends = [sides[i + 2] for i, op in enumerate(ops) if op == "conv_transpose"]
    assert tuple(ends) == AFTER_UP  # each up level: up-convolution, then two unpadded convs
    assert tuple(g.shape(h.node) for h in g.heads) == ((2, 388, 388),)


def test_the_padded_unet_has_the_same_layers_and_keeps_the_input_size():
    for size in (64, 512):
        model = incept_dsl.load(FILE, model="unet", params={"size": size, "classes": 3})
        assert model.param_count() == hand_count(classes=3)
        assert model.graph.shape(model.graph.heads[0].node) == (3, size, size)
    with pytest.raises(incept_dsl.InceptError, match="same H×W"):
        incept_dsl.load(FILE, model="unet", params={"size": 100})  # not a multiple of 16
    for tile, side in ((188, 4), (300, 116), (572, 388)):  # the paper's model: 188 + 16k
        model = incept_dsl.load(FILE, model="unet_paper", params={"size": tile})
        assert model.graph.shape(model.graph.heads[0].node) == (2, side, side)
    with pytest.raises(incept_dsl.InceptError):
        incept_dsl.load(FILE, model="unet_paper", params={"size": 200})


def _scramble_biases(ref: nn.Module) -> None:
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)


@pytest.mark.parametrize(
    ("name", "params", "padding"),
    [
        ("unet_paper", {"size": 204, "classes": 4, "channels": 3}, 0),  # 20×20 scores
        ("unet", {"size": 48, "classes": 4, "channels": 3}, 1),
    ],
)
def test_both_compute_the_transcription_at_every_level_and_in_onnxruntime(name, params, padding):
    torch.manual_seed(0)
    ref = PaperUNet(channels=3, classes=4, padding=padding).eval()
    _scramble_biases(ref)
    model = incept_dsl.load(FILE, model=name, params=params)
    ours = model.to_torch().eval()
    incept_dsl.copy_weights(ref, ours)
    side = params["size"]
    x = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        theirs = ref(x)
        assert theirs.shape[-1] == (side - 184 if padding == 0 else side)
        assert_informative(theirs)
        assert rel_diff(ours(x), theirs) < RTOL
        state = ours.state_dict()
        for level in (1, 2):
            net = model.to_torch(opt_level=level, state_dict=state).eval()
            assert rel_diff(net(x), theirs) < RTOL, f"-O{level}"
    assert rel_diff(onnx_output(model, state, x), theirs) < RTOL, "onnxruntime"
