"""Test configuration.

The torchvision 0.28.0 wheel is CUDA-built; on the CPU torch of these machines `import torchvision`
fails with "operator torchvision::nms does not exist" unless the schemas `torchvision::nms` and
`torchvision::qnms` exist first. This shim defines them (tests only; the package never imports
torchvision or timm). timm imports torchvision too.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARCH = ROOT / "architectures"

os.environ.setdefault("OMP_NUM_THREADS", "2")
# Subprocesses (the CLI, torchrun, the language server) import this checkout's package, not an
# installed copy of another checkout that may be older or gone.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
)


def _torchvision_shim() -> None:
    import torch

    if getattr(_torchvision_shim, "done", False):
        return
    try:
        torch.ops.torchvision.nms  # noqa: B018 - probe
    except (AttributeError, RuntimeError):
        lib = torch.library.Library("torchvision", "DEF")  # noqa: F841
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _torchvision_shim.lib = lib  # keep the library alive
    _torchvision_shim.done = True


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens", action="store_true", help="rewrite golden files from the current output"
    )


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


@pytest.fixture(scope="session")
def torchvision():
    """torchvision.models, importable on CPU torch thanks to the shim."""
    _torchvision_shim()
    import torchvision.models

    return torchvision.models


@pytest.fixture(scope="session")
def timm():
    _torchvision_shim()
    import timm

    return timm


def has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # noqa: BLE001
        return False


cuda = pytest.mark.skipif(not has_cuda(), reason="no CUDA device on this machine")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skipif(not has_cuda(), reason="no CUDA device on this machine")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
