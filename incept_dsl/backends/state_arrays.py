"""A state_dict as numpy arrays, refusing what is not a dense real tensor.

`numpy_state` guarantees: every value of the result is a numpy array of booleans, integers or
floats (bfloat16 is widened to float32); a key that is not a string, or a value that is not a
dense tensor or array of real numbers (a sparse or quantized tensor, a complex or object array,
a number, a string, a nested dict), is a `UsageError` that names the key and says what it holds.
Nothing is converted lazily, so no backend later meets a value it cannot read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from incept_dsl.errors import UsageError

#: numpy dtype kinds a weight may have: bool, signed, unsigned, float.
_REAL_KINDS = frozenset("biuf")


def _refuse(key: str, what: str, fix: str = "") -> UsageError:
    return UsageError(
        f"the weights' entry {key!r} is {what}, not a dense tensor of real numbers"
        + (f"; {fix}" if fix else "")
    )


def _from_torch(key: str, value: Any) -> np.ndarray:
    import torch

    if value.layout != torch.strided:
        raise _refuse(
            key,
            f"a {str(value.layout).removeprefix('torch.')} tensor",
            "save it dense (tensor.to_dense())",
        )
    if value.is_quantized:
        raise _refuse(key, "a quantized tensor", "save it dequantized (tensor.dequantize())")
    if value.is_complex():
        raise _refuse(key, "a complex tensor")
    if value.device.type == "meta":
        raise _refuse(key, "a tensor without data (on the meta device)")
    v = value.detach().cpu()
    if v.dtype == torch.bfloat16:
        v = v.float()
    try:
        return v.resolve_conj().resolve_neg().numpy()
    except (RuntimeError, TypeError) as err:
        raise _refuse(key, f"a tensor numpy cannot read ({err})") from None


def numpy_state(state_dict: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """numpy arrays of a state_dict's tensors (see the module doc)."""
    if not isinstance(state_dict, Mapping):
        raise UsageError(f"the weights are a {type(state_dict).__name__}, not a state_dict")
    out: dict[str, np.ndarray] = {}
    for key, value in state_dict.items():
        if not isinstance(key, str):
            raise UsageError(f"the weights have a key {key!r} that is not a string")
        if hasattr(value, "detach") and hasattr(value, "layout"):  # a torch tensor
            arr = _from_torch(key, value)
        elif isinstance(value, np.ndarray):
            arr = value
        else:
            name = type(value).__name__
            raise _refuse(key, f"{'an' if name[0] in 'aeiou' else 'a'} {name}")
        if arr.dtype.kind not in _REAL_KINDS:
            raise _refuse(key, f"an array of {arr.dtype}")
        out[key] = arr
    return out
