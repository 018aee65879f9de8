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


def compile_for_inference(module, cpp_wrapper=True, check=True):
    """A module compiled for inference: `torch.compile` with Inductor's freezing (weights folded
    in as constants, prepacked) and C++ wrapper, called under `torch.inference_mode()`; with
    `check`, each new input shape's first output is compared with the module's own.

    See `incept_dsl.backends.torch.inference.CompiledForInference`.
    """
    from incept_dsl.backends.torch.inference import compile_for_inference as _compile

    return _compile(module, cpp_wrapper=cpp_wrapper, check=check)


def tune_cpu_allocator():
    """Keep freed CPU memory mapped (glibc) and, called before torch is imported, put large
    tensors in huge pages, so that a forward pass stops paying page faults; process-wide.

    See `incept_dsl.backends.cpu_allocator.tune_cpu_allocator`.
    """
    from incept_dsl.backends.cpu_allocator import tune_cpu_allocator as _tune

    return _tune()


__all__ = [
    "InceptError",
    "InceptErrors",
    "Model",
    "UsageError",
    "__version__",
    "compile_for_inference",
    "copy_weights",
    "load",
    "load_all",
    "loads",
    "tune_cpu_allocator",
]
