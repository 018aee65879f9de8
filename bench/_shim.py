"""The torchvision CPU shim for the bench scripts (the same as tests/conftest.py's).

The torchvision 0.28.0 wheel is CUDA-built: on CPU torch, `import torchvision` fails with
"operator torchvision::nms does not exist" unless these schemas exist first. The package itself
never imports torchvision or timm.
"""

from __future__ import annotations

_LIB = []


def torchvision_shim() -> None:
    """Define `torchvision::nms` and `torchvision::qnms` unless torch already knows them."""
    import torch

    try:
        torch.ops.torchvision.nms  # noqa: B018 - probe
    except (AttributeError, RuntimeError):
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _LIB.append(lib)  # keep the library alive
