"""The worked v2 fragment (LANGUAGE.md §12, `vit_tiny`) trains: its generated module, with the
default initialisation, lowers the loss of a tiny synthetic task within a few Adam steps, and
every parameter (class token, position embedding, attention projections, norms) learns. (At the
first step only the class token's path has a gradient: `fan_in` starts every residual branch at
zero, so the output depends on the patches only once the branches' last layers have moved.)
"""

from __future__ import annotations

import torch
from helpers import VIT_TINY, model


def quadrant_images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise with one bright 16×16 quadrant; the label is which quadrant (4 classes)."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    x = torch.randn(n, 3, 32, 32, generator=gen) * 0.5
    for i, k in enumerate(labels.tolist()):
        r, c = divmod(k, 2)
        x[i, :, 16 * r : 16 * r + 16, 16 * c : 16 * c + 16] += 1.5
    return x, labels


def test_vit_tiny_loss_falls_on_a_synthetic_task() -> None:
    torch.manual_seed(0)
    net = model(VIT_TINY).to_torch().train()
    opt = torch.optim.Adam(net.parameters(), lr=3e-4)
    x, y = quadrant_images(8, seed=1)
    start = {k: v.clone() for k, v in net.state_dict().items()}
    losses = []
    for _ in range(8):
        total = net.loss(net(x), y)[0]
        opt.zero_grad()
        total.backward()
        opt.step()
        losses.append(float(total.detach()))
    moved = {k for k, v in net.state_dict().items() if not torch.equal(v, start[k])}
    assert moved == set(start)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert 2.0 < losses[0] < 2.6  # near log(10) (10 classes, 4 used): logits of order 1
    assert sum(losses[-2:]) / 2 < 0.5 * losses[0], losses
