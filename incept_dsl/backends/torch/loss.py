"""Loss weighting: one definition, for the generated module and for `Model.loss`.

`LOSS_METHOD` is the source of the generated class's `loss` method (the generated file imports
only torch, so it carries the text). `weighted_loss` runs that same text, so `Model.loss` weighs
the heads exactly as the generated module does.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

#: The generated class's `loss` method, line by line (indented as a method).
LOSS_METHOD: tuple[str, ...] = (
    "    def loss(self, outputs, target, criterion=None):",
    '        """Weighted sum of the heads\' losses, with the weights the program declares.',
    "",
    "        `outputs` is what `forward` returned (training or eval mode); `criterion`",
    "        defaults to cross-entropy. Returns (total, {head name: unweighted loss}).",
    '        """',
    "        criterion = criterion if criterion is not None else F.cross_entropy",
    "        weights = {h: w for h, _, w in self.HEADS}",
    "        if isinstance(outputs, torch.Tensor):",
    "            first = next(h for h, kind, _ in self.HEADS if kind == 'output')",
    "            outputs = {first: outputs}",
    "        else:",
    "            outputs = outputs._asdict()",
    "        parts = {h: criterion(out, target) for h, out in outputs.items()}",
    "        total = sum(weights[h] * part for h, part in parts.items())",
    "        return total, parts",
)


_COMPILED: list[Callable[..., Any]] = []


def weighted_loss(
    heads: tuple[tuple[str, str, float], ...], outputs: Any, target: Any, criterion: Any = None
) -> tuple[Any, dict[str, Any]]:
    """(total, {head: unweighted loss}) by `LOSS_METHOD`'s code, with `heads` as the generated
    class's `HEADS` ((name, kind, weight) per head) and `outputs` as its `forward` returns them
    (a tensor, or a named tuple of the heads)."""
    if not _COMPILED:
        import torch
        import torch.nn.functional as F

        scope: dict[str, Any] = {"torch": torch, "F": F}
        exec(textwrap.dedent("\n".join(LOSS_METHOD)), scope)  # noqa: S102 - our own text
        _COMPILED.append(scope["loss"])
    return _COMPILED[0](SimpleNamespace(HEADS=heads), outputs, target, criterion)
