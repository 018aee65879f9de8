"""The execution order of a network's tensors and units: when a forward pass first reads each.

A tensor is *read* by a torch operation (a function of `torch`, `torch.nn.functional` or a
`Tensor` method) that takes it as an argument, at any depth of the argument lists, or by reading
an attribute of it that is a tensor (`.T`, `.data`); reading `.shape` or `.dtype` is no read. A
`TorchFunctionMode` sees each operation the module's Python code calls (one that an operation
calls inside itself is not seen), so
`F.multi_head_attention_forward(..., in_proj_weight, in_proj_bias, ..., out_proj.weight, ...)`
is one read of four tensors, ordered by their place among its arguments.
"""

from __future__ import annotations

import copy
from typing import Any

from incept_dsl.weights.layers import Layer, module_units


def _first_use_mode(keys: dict[int, str]) -> Any:
    """A TorchFunctionMode whose `order` lists the keys of the tensors (by id: `keys`) that the
    operations run under it read, each once, in the order first read."""
    import torch
    from torch.overrides import TorchFunctionMode
    from torch.utils._pytree import tree_leaves

    class FirstUse(TorchFunctionMode):
        def __init__(self) -> None:
            super().__init__()
            self.order: list[str] = []
            self.seen: set[str] = set()

        def __torch_function__(
            self, func: Any, types: Any, args: Any = (), kwargs: Any = None
        ) -> Any:
            result = func(*args, **(kwargs or {}))
            # reading `.shape` or `.dtype` is no use; reading `.T` or `.data` is
            if getattr(func, "__name__", "") != "__get__" or isinstance(result, torch.Tensor):
                for leaf in tree_leaves((args, kwargs)):
                    key = keys.get(id(leaf))
                    if key is not None and key not in self.seen:
                        self.seen.add(key)
                        self.order.append(key)
            return result

    return FirstUse()


def tensor_order(net: Any, example: Any) -> list[str]:
    """`net`'s state_dict keys in execution order: first the tensors an eval-mode forward on
    `example` reads, in the order first read; then those only a training-mode forward reads (aux
    heads), in that order; then those never read, in key order. Runs on a deep copy, without
    gradients, so `net` itself (its running statistics, its mode) is untouched."""
    import torch

    twin = copy.deepcopy(net)
    state = twin.state_dict(keep_vars=True)
    keys: dict[int, str] = {}
    for key, value in state.items():
        keys.setdefault(id(value), key)  # a tied tensor counts under its first key
    mode = _first_use_mode(keys)
    with torch.no_grad(), mode:
        for training in (False, True):
            twin.train(training)
            twin(*example) if isinstance(example, tuple) else twin(example)
    seen = set(mode.order)
    return mode.order + [k for k in state if k not in seen]


def ordered_units(net: Any, example: Any) -> list[Layer]:
    """`net`'s units (`layers.module_units`) in execution order: each where its first tensor is
    first read (`tensor_order`; the tensors one operation reads are read in argument order)."""
    position = {key: i for i, key in enumerate(tensor_order(net, example))}
    units = module_units(net)
    return sorted(units, key=lambda u: min(position[k] for k in u.keys.values()))


def execution_order(net: Any, example: Any) -> list[str]:
    """Names of `net`'s units in execution order (`ordered_units`): a layer by its module's name
    (an attention's in-projection by the attention's), a loose tensor by its state_dict key.

    First the units an eval-mode forward reads, in that order; then those only a training-mode
    forward reads (aux heads), in their training-mode order; then those never read, in
    registration order. So aux heads pair up whether a network runs them where their input is
    ready (torchvision) or after the main path (incept-dsl). `net` itself is untouched.
    """
    return [u.name for u in ordered_units(net, example)]
