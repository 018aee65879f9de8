"""`copy_weights` pairs aux heads however the two networks schedule them, and the generated
module runs aux heads in the order they leave the main path (as torchvision does)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from helpers import model
from torch import nn

import incept_dsl
from incept_dsl.weights import execution_order

# heads declared out of branch order: aux `late` (from b) before aux `early` (from a)
PROGRAM = """
model two_aux(classes = 5) {
    input image: 3x16x16
    a = image -> conv(8, 3, act = relu)
    b = a -> conv(12, 3, act = relu)
    output logits = b -> avgpool(global) -> flatten -> linear(classes)
    aux late = b -> avgpool(global) -> flatten -> linear(classes) weight 0.3
    aux early = a -> avgpool(global) -> flatten -> linear(classes) weight 0.3
}
"""


class Reference(nn.Module):
    """Runs each aux head where its input is ready, inside the main path (torchvision style)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_a = nn.Conv2d(3, 8, 3, padding=1)
        self.conv_b = nn.Conv2d(8, 12, 3, padding=1)
        self.fc = nn.Linear(12, 5)
        self.aux_late = nn.Linear(12, 5)  # registered before aux_early, run after it
        self.aux_early = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor):
        a = F.relu(self.conv_a(x))
        early = self.aux_early(a.mean((2, 3))) if self.training else None
        b = F.relu(self.conv_b(a))
        late = self.aux_late(b.mean((2, 3))) if self.training else None
        logits = self.fc(b.mean((2, 3)))
        return (logits, late, early) if self.training else logits


def test_generated_module_runs_aux_heads_in_branch_order():
    net = model(PROGRAM).to_torch()
    order = execution_order(net, torch.randn(2, 3, 16, 16))
    assert [n for n in order if "linear" in n][1:] == ["linear_3", "linear_2"]


def test_copy_weights_pairs_aux_heads_run_inside_the_main_path():
    torch.manual_seed(0)
    ref = Reference()
    m = model(PROGRAM)
    ours = m.to_torch()
    incept_dsl.copy_weights(ref, ours)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        theirs = ref.train()(x)
        mine = ours.train()(x)
    assert mine._fields == ("logits", "late", "early")
    for t, o in zip(theirs, mine, strict=True):
        torch.testing.assert_close(o, t, rtol=1e-5, atol=1e-6)
