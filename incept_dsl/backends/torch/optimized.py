"""The module of an optimised graph (-O1/-O2), holding weights the driver carried to it.

`optimized_module` builds the generated class without initialising it (every tensor comes from
the weights) and loads the weights strictly. The module is an inference form (batch norms
folded, aux heads pruned): it is returned in eval mode with parameters that do not require grad,
on the CPU in the weights' dtype; move or cast it with `.to(...)` as usual.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from incept_dsl.backends.torch.codegen import module_class
from incept_dsl.backends.torch.kernels import channels_last
from incept_dsl.ir.graph import Graph


def optimized_module(graph: Graph, weights: Mapping[str, np.ndarray], init: str) -> Any:
    """An instance of `graph`'s module holding `weights` (its own state_dict, as numpy arrays)."""
    import torch

    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()}
    cls = module_class(graph, init)
    # every tensor comes from `tensors`: skip the initialisation (the layers' own on meta tensors)
    uninitialised = type(
        cls.__name__,
        (cls,),
        {
            "reset_parameters": lambda self: None,
            "__doc__": cls.__doc__,
            "__module__": cls.__module__,
        },
    )
    with torch.device("meta"):
        module = uninitialised()
    module.load_state_dict(tensors, strict=True, assign=True)
    if channels_last(graph):
        module.to(memory_format=torch.channels_last)
    module.eval().requires_grad_(False)
    return module
