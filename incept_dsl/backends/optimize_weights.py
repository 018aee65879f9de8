"""Weights through the optimiser: the -O0 state_dict, transformed as the passes transformed the IR.

The -O0 module's state_dict is the canonical weight format (a checkpoint trained un-optimised).
`optimize` runs the `-O<level>` pipeline and evaluates every parametric node's weight recipe
(`incept_dsl.passes.recipes`: loads, BN folds, scale folds, channel concatenations) on numpy
arrays, giving the optimised module's own state_dict. `to_torch_optimized` builds that module.

Folding is computed in float64 and stored in the source dtype. This module imports torch only
inside `to_torch_optimized`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from incept_dsl.errors import CompilerBug
from incept_dsl.ir.graph import Graph
from incept_dsl.passes import run_pipeline
from incept_dsl.passes.recipes import PARAMETRIC, Concat, FoldBN, Load, Recipe, Scale, recipe_of
from incept_dsl.weights import WeightMismatch

if TYPE_CHECKING:
    from incept_dsl.model import Model

#: The state_dict entries of each parametric op, as PyTorch names them (bias only when present).
TENSORS: dict[str, tuple[str, ...]] = {
    "conv": ("weight", "bias"),
    "linear": ("weight", "bias"),
    "batchnorm": ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"),
}

Arrays = dict[str, np.ndarray]


def _load(state: Mapping[str, np.ndarray], r: Load) -> Arrays:
    out: Arrays = {}
    for name in TENSORS[r.op]:
        key = f"{r.scope}.{name}"
        if key in state:
            out[name] = np.asarray(state[key])
        elif name != "bias":
            raise WeightMismatch(
                f"the state_dict has no '{key}' (the -O0 module's keys are "
                f"'<scope>.weight', '.bias', ... as `Model.to_torch()` names them)"
            )
    return out


def _channels(a: np.ndarray, ndim: int) -> np.ndarray:
    """A per-output-channel vector shaped to broadcast against a weight of `ndim` dimensions."""
    return a.reshape((-1,) + (1,) * (ndim - 1))


def evaluate(recipe: Recipe, state: Mapping[str, np.ndarray]) -> Arrays:
    """The tensors a recipe describes, computed from the -O0 `state` (numpy arrays)."""
    if isinstance(recipe, Load):
        return _load(state, recipe)
    if isinstance(recipe, FoldBN):
        src, bn = evaluate(recipe.src, state), evaluate(recipe.bn, state)
        w = src["weight"]
        f64 = np.float64
        s = bn["weight"].astype(f64) / np.sqrt(bn["running_var"].astype(f64) + recipe.eps)
        b = src["bias"].astype(f64) if "bias" in src else np.zeros(w.shape[0], f64)
        return {
            "weight": (w.astype(f64) * _channels(s, w.ndim)).astype(w.dtype),
            "bias": ((b - bn["running_mean"].astype(f64)) * s + bn["bias"].astype(f64)).astype(
                w.dtype
            ),
        }
    if isinstance(recipe, Scale):
        src = evaluate(recipe.src, state)
        return {k: (v.astype(np.float64) * recipe.s).astype(v.dtype) for k, v in src.items()}
    if not isinstance(recipe, Concat):
        raise CompilerBug(f"unknown weight recipe {recipe!r}")
    parts = [evaluate(p, state) for p in recipe.parts]
    out: Arrays = {}
    for name in parts[0]:
        if name == "num_batches_tracked":
            out[name] = parts[0][name]
        elif name != "bias":
            out[name] = np.concatenate([p[name] for p in parts], axis=0)
    if any("bias" in p for p in parts):
        dtype = parts[0]["weight"].dtype
        out["bias"] = np.concatenate(
            [p["bias"] if "bias" in p else np.zeros(p["weight"].shape[0], dtype) for p in parts]
        )
    return out


def _check_keys(model: Model, state: Mapping[str, Any]) -> None:
    """Every key names a tensor of the -O0 module (strict, like `load_state_dict`)."""
    g = model.graph
    expected = {
        f"{g.scope(n)}.{t}"
        for n in g.nx
        if g.op(n) in PARAMETRIC
        for t in TENSORS[g.op(n)]
        if t != "bias" or g.attrs(n).get("bias", True)
    }
    unknown = sorted(set(state) - expected)
    missing = sorted(expected - set(state))
    if unknown or missing:
        raise WeightMismatch(
            f"the state_dict does not fit the -O0 module of {model.name}: "
            + (
                f"unexpected keys {unknown[:3]}{' ...' if len(unknown) > 3 else ''}; "
                if unknown
                else ""
            )
            + (f"missing keys {missing[:3]}{' ...' if len(missing) > 3 else ''}" if missing else "")
        )


def optimize(
    model: Model, opt_level: int, state: dict[str, np.ndarray] | None, keep_aux: bool = False
) -> tuple[Graph, dict[str, np.ndarray] | None]:
    """The -O<level> graph of `model` and the -O0 weights (numpy arrays keyed exactly like the -O0
    torch module's state_dict: '<scope>.weight', '.bias', '.running_mean', '.running_var',
    '.num_batches_tracked') carried through every pass, keyed like the optimised graph's own module
    (its nodes' scopes). `state=None` -> returns None for the weights. Aux heads pruned unless
    keep_aux.

    Raises `WeightMismatch` when `state` is not a state_dict of the -O0 module.
    """
    graph = run_pipeline(model.graph, opt_level, keep_aux=keep_aux)
    if not keep_aux:
        graph.eliminate_dead_code(keep_kinds=("output",))
    if state is None:
        return graph, None
    _check_keys(model, state)
    return graph, carry_weights(graph, state)


def carry_weights(graph: Graph, state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The state_dict of `graph`'s module (an optimised graph of a model), computed from the -O0
    `state` by every parametric node's recipe; keys in the graph's order."""
    out: dict[str, np.ndarray] = {}
    for n in graph.order():
        if graph.op(n) not in PARAMETRIC:
            continue
        tensors = evaluate(recipe_of(graph, n), state)
        has_bias = graph.op(n) == "batchnorm" or graph.attrs(n)["bias"]
        if has_bias != ("bias" in tensors):
            raise CompilerBug(f"the weight recipe of {graph.scope(n)} disagrees with its bias")
        for name, value in tensors.items():
            out[f"{graph.scope(n)}.{name}"] = value
    return out


def to_torch_optimized(
    model: Model, opt_level: int, state_dict: Mapping[str, Any] | None, init: str
) -> Any:
    """Model.to_torch(opt_level>0) calls this: the -O<level> module with the -O0 state_dict
    (or a fresh -O0 initialisation when None) transformed through the passes.

    The module is an inference form (batch norms folded, aux heads pruned): it is returned in eval
    mode with parameters that do not require grad, on the CPU in the state_dict's dtype (bfloat16
    as float32); move or cast it with `.to(...)` as usual.
    """
    import torch

    from incept_dsl.backends.to_torch import build_module, module_class
    from incept_dsl.backends.torch_kernels import channels_last

    if state_dict is None:
        state_dict = build_module(model.graph, None, init).state_dict()
    arrays = {k: _numpy(v) for k, v in state_dict.items()}
    graph, new = optimize(model, opt_level, arrays)
    assert new is not None
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in new.items()}
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


def _numpy(value: Any) -> np.ndarray:
    """A state_dict entry as a numpy array (bfloat16, which numpy lacks, as float32)."""
    import torch

    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return (value.float() if value.dtype == torch.bfloat16 else value).numpy()
    return np.asarray(value)
