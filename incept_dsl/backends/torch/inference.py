"""`compile_for_inference`: `torch.compile` with Inductor's freezing and C++ wrapper, for serving.

Freezing folds the module's weights into the compiled graph as constants and prepacks them for
oneDNN; the C++ wrapper calls the kernels without Python between them (the README's "Inductor's
freezing" has the figures). Both are settings of Inductor's global config: passed to
`torch.compile(options=...)`, freezing did not take effect (ResNet-50 ran 1.5x slower). So the
wrapper sets them around each call (torch.compile compiles inside the first call, and again
inside the first call with another batch size, then for any batch size) and leaves the config as
it found it.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch._inductor.config as inductor_config
from torch import nn

from incept_dsl.errors import UsageError


def compiler_missing() -> str | None:
    """Why Inductor cannot compile here (it builds C++ kernels with the system's C++ compiler:
    `g++`, or `$CXX`), or None when it can."""
    from torch._inductor import cpp_builder, exc

    try:
        cpp_builder.get_cpp_compiler()
    except exc.InvalidCxxCompiler as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "none found"
        return f"torch.compile needs a C++ compiler on the CPU and found none ({first})"
    return None


class WrongCompiledOutput(RuntimeError):
    """The compiled module's output differs from the module's own on the same input: a bug of
    the compiler (Inductor's freezing computes timm's Inception-ResNet-v2 wrongly, for one)."""


#: relative difference (max |compiled - eager| / max |eager|) tolerated per output dtype
TOLERANCE = {torch.float32: 1e-4, torch.float64: 1e-4}
TOLERANCE_OTHER = 3e-2  # bfloat16, float16: the compiled kernels round in another order


def _signature(args: Any, kwargs: Any) -> tuple[Any, ...]:
    """The inputs' signature: each tensor's shape, strides, dtype and device, plain values (numbers,
    strings, None) as they are, anything else by type (a new signature may make torch.compile
    compile anew)."""
    from torch.utils._pytree import tree_leaves

    def leaf(t: Any) -> Any:
        if isinstance(t, torch.Tensor):
            return (tuple(t.shape), t.stride(), t.dtype, t.device)
        return t if isinstance(t, int | float | str | None) else type(t).__name__

    return tuple(leaf(t) for t in tree_leaves((args, kwargs)))


def worst_difference(got: Any, want: Any) -> tuple[float, float]:
    """The largest relative difference over the floating-point tensors of two outputs, and its
    tolerance. Equal values (infinities included) and NaN against NaN differ by 0; NaN against a
    number gives NaN, which no tolerance admits."""
    from torch.utils._pytree import tree_leaves

    worst, tol = 0.0, TOLERANCE[torch.float32]
    for a, b in zip(tree_leaves(got), tree_leaves(want), strict=True):
        if isinstance(b, torch.Tensor) and b.is_floating_point() and b.numel():
            a, b32 = a.float(), b.float()
            same = (a == b32) | (a.isnan() & b32.isnan())
            gap = torch.where(same, 0.0, (a - b32).abs()).max()
            scale = b32.abs().nan_to_num(0.0, 0.0, 0.0).max().clamp_min(1e-30)
            diff = float(gap / scale)
            limit = TOLERANCE.get(b.dtype, TOLERANCE_OTHER)
            if math.isnan(diff):
                return diff, limit
            if diff / limit > worst / tol:
                worst, tol = diff, limit
    return worst, tol


class CompiledForInference(nn.Module):
    """`module`, compiled by `torch.compile` with Inductor's freezing and (by default) its C++
    wrapper, and always called under `torch.inference_mode()`.

    Guarantees: the same outputs as `module` in eval mode (to float rounding); outputs are
    inference tensors (no autograd). The weights are taken when a graph is compiled (the first
    call, and the first with another batch size): most become folded or prepacked copies, some
    stay the module's own tensors, so a change to them afterwards is seen in part or not at all:
    compile again after changing them. The wrapped module is `.module`; `state_dict()` is its
    state_dict under that prefix.

    With `check` (the default), the first call for each input signature (shapes, strides,
    dtypes, devices) also runs `module` itself and raises `WrongCompiledOutput` when the
    outputs differ by more than float rounding (`TOLERANCE`), or one has NaN where the other
    has a number.
    """

    def __init__(self, module: nn.Module, cpp_wrapper: bool = True, check: bool = True) -> None:
        super().__init__()
        self.module = module
        self.eval()  # this module and `module`
        self.cpp_wrapper = cpp_wrapper
        self.check = check
        self._checked: set[tuple[Any, ...]] = set()
        # a tuple, so that nn.Module does not register the compiled module a second time
        self._compiled = (torch.compile(module),)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """`module(*args, **kwargs)`, compiled when torch.compile's guards ask for it."""
        if self.module.training:
            raise UsageError(
                "compile_for_inference: the module is in training mode; the compiled form is "
                "for inference only (call .eval(), or train the module itself)"
            )
        with (
            torch.inference_mode(),
            inductor_config.patch(freezing=True, cpp_wrapper=self.cpp_wrapper),
        ):
            out = self._compiled[0](*args, **kwargs)
            if self.check and (key := _signature(args, kwargs)) not in self._checked:
                worst, tol = worst_difference(out, self.module(*args, **kwargs))
                if not worst <= tol:  # NaN too
                    raise WrongCompiledOutput(
                        f"torch.compile with freezing computes {type(self.module).__name__} "
                        f"wrongly: relative difference {worst:.1e} from the module's own output "
                        f"(tolerance {tol:.0e}); run the module uncompiled"
                    )
                self._checked.add(key)
            return out


def compile_for_inference(
    module: nn.Module, cpp_wrapper: bool = True, check: bool = True
) -> CompiledForInference:
    """`module` (put in eval mode) compiled for inference: see `CompiledForInference`.

    Raises `UsageError` when there is no C++ compiler for Inductor to build its kernels with.
    """
    if not isinstance(module, nn.Module):
        raise UsageError(
            f"compile_for_inference takes a torch.nn.Module; got {type(module).__name__}"
        )
    if reason := compiler_missing():
        raise UsageError(f"compile_for_inference: {reason}")
    return CompiledForInference(module, cpp_wrapper=cpp_wrapper, check=check)
