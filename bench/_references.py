"""The reference networks the bench scripts compare with, and the torchvision CPU shim (the same
as tests/conftest.py's).

The torchvision 0.28.0 wheel is CUDA-built: on CPU torch, `import torchvision` fails with
"operator torchvision::nms does not exist" unless these schemas exist first. The package itself
never imports torchvision or timm.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class Spec:
    """A benchmarked model: our file and model, the reference's label and builder, input size."""

    file: str
    model: str
    reference: str
    build: Callable[[], Any]
    size: int


def _tv(name: str, **kwargs: Any) -> Callable[[], Any]:
    def build() -> Any:
        import torchvision.models as tvm

        return getattr(tvm, name)(weights=None, **kwargs)

    return build


def _timm(name: str) -> Callable[[], Any]:
    def build() -> Any:
        import timm

        return timm.create_model(name, pretrained=False)

    return build


SPECS: dict[str, Spec] = {
    "googlenet": Spec(
        "googlenet.incept",
        "googlenet_tv",
        "torchvision googlenet",
        _tv("googlenet", aux_logits=True, init_weights=True),
        224,
    ),
    "inception_v3": Spec(
        "inception_v3.incept",
        "inception_v3",
        "torchvision inception_v3",
        _tv("inception_v3", aux_logits=True, init_weights=True),
        299,
    ),
    "resnet50": Spec("resnet.incept", "resnet50", "torchvision resnet50", _tv("resnet50"), 224),
    "mobilenet_v2": Spec(
        "mobilenet.incept", "mobilenet_v2", "torchvision mobilenet_v2", _tv("mobilenet_v2"), 224
    ),
    "mobilenet_v3_small": Spec(
        "mobilenet.incept",
        "mobilenet_v3_small",
        "torchvision mobilenet_v3_small",
        _tv("mobilenet_v3_small"),
        224,
    ),
    "mobilenet_v3_large": Spec(
        "mobilenet.incept",
        "mobilenet_v3_large",
        "torchvision mobilenet_v3_large",
        _tv("mobilenet_v3_large"),
        224,
    ),
    "inception_resnet_v2": Spec(
        "inception_resnet_v2.incept",
        "inception_resnet_v2",
        "timm inception_resnet_v2",
        _timm("inception_resnet_v2"),
        299,
    ),
}


def realistic(net: Any, seed: int = 0) -> Any:
    """Kaiming-normal conv weights, random BN affine and running statistics, eval mode."""
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups
                m.weight.normal_(0.0, (2.0 / fan_out) ** 0.5, generator=gen)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.uniform_(-0.2, 0.2, generator=gen)
                m.running_mean.uniform_(-0.2, 0.2, generator=gen)
                m.running_var.uniform_(0.5, 2.0, generator=gen)
    return net.eval()


def on_reference_weights(spec: Spec) -> tuple[Any, Any, dict[str, Any]]:
    """The reference with `realistic` weights (eval mode), our `Model` of it, and the state_dict
    of our -O0 module with the reference's weights copied in (`incept_dsl.copy_weights`)."""
    import incept_dsl

    ref = realistic(spec.build())
    model = incept_dsl.load(spec.file, model=spec.model)
    ours0 = model.to_torch().eval()
    incept_dsl.copy_weights(ref, ours0)
    return ref, model, ours0.state_dict()
