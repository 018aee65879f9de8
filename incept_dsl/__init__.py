"""incept-dsl: a compiler for neural-network architecture descriptions.

    >>> import incept_dsl
    >>> m = incept_dsl.load("googlenet.incept", model="googlenet")
    >>> net = m.to_torch()

`import incept_dsl` does not import torch or onnx; backends import them when used.
"""

__version__ = "0.1.0"

from incept_dsl.api import load, load_all, loads  # noqa: E402
from incept_dsl.errors import InceptError, InceptErrors, UsageError  # noqa: E402
from incept_dsl.model import Model  # noqa: E402


def copy_weights(reference, module, input_shape=None):
    """Copy a reference network's weights (module or state_dict) into a compiled module.

    See `incept_dsl.weights.copy_weights`.
    """
    from incept_dsl.weights import copy_weights as _copy

    return _copy(reference, module, input_shape)


__all__ = [
    "InceptError",
    "InceptErrors",
    "Model",
    "UsageError",
    "__version__",
    "copy_weights",
    "load",
    "load_all",
    "loads",
]
