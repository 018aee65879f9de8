"""Weight recipes: how an optimised node's parameters derive from the -O0 module's state_dict.

Passes that change weights (BN folding, scale folding, sibling merging) do not touch arrays: they
record, in the new or changed node's ``meta["weights"]``, a recipe over the -O0 tensors. A recipe is
a small immutable tree; `evaluate` computes it on numpy arrays and
`carry_weights` gives an optimised graph's whole state_dict (float64 arithmetic, stored in the
source dtype). A
parametric node without a recipe loads its own scope's tensors unchanged (`Load`).

    Load("inception_3a.branch_1.conv_1.conv", "conv")    # the -O0 module's tensors at that scope
    FoldBN(conv=Load(...conv), bn=Load(...bn), eps=1e-3)  # w * g/sqrt(v+eps), (b - m) * g/sqrt(..) + beta
    Scale(src=Load(...), s=0.17)                          # w * s, b * s
    ChannelScale(src=Load(...), by=Load(...layer_scale))  # w * gamma, b * gamma per out channel
    Concat(parts=(r1, r2, r3))                            # along output channels (zero bias where absent)

"Per output channel" follows the layer's own layout (the op of the recipe's innermost `Load`): dim 0
of a conv's or linear's weight; dim 1, within each group, of a conv_transpose's
(in, out/groups, kh, kw) weight; the out-projection of an attention (its in-projection unchanged).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from incept_dsl.errors import CompilerBug
from incept_dsl.ir.graph import Graph
from incept_dsl.ir.ops import OPS, WEIGHTED, state_tensors


@dataclass(frozen=True)
class Load:
    """The -O0 module's own tensors at `scope` (a node of op `op`)."""

    scope: str
    op: str


@dataclass(frozen=True)
class FoldBN:
    """A conv's or linear's parameters with the batch norm that followed it folded in."""

    src: Recipe
    bn: Recipe
    eps: float


@dataclass(frozen=True)
class Scale:
    """Parameters of a conv or linear whose output is multiplied by `s`."""

    src: Recipe
    s: float


@dataclass(frozen=True)
class ChannelScale:
    """Parameters of a conv or linear whose output channels are multiplied by the `gamma` of a
    `layer_scale` (`by`)."""

    src: Recipe
    by: Recipe


@dataclass(frozen=True)
class Concat:
    """Parameters of several layers stacked along the output channels, in order."""

    parts: tuple[Recipe, ...]


Recipe = Load | FoldBN | Scale | ChannelScale | Concat


def recipe_of(graph: Graph, n: int) -> Recipe:
    """The recipe of parametric node `n`: its recorded one, or loading its own scope."""
    recorded = graph.meta(n).get("weights")
    return recorded if recorded is not None else Load(graph.scope(n), graph.op(n))


def set_recipe(graph: Graph, n: int, recipe: Recipe) -> None:
    graph.meta(n)["weights"] = recipe


def sources(recipe: Recipe) -> list[str]:
    """The -O0 scopes a recipe reads, in order (for `--explain` and tests)."""
    if isinstance(recipe, Load):
        return [recipe.scope]
    if isinstance(recipe, FoldBN):
        return sources(recipe.src) + sources(recipe.bn)
    if isinstance(recipe, Scale):
        return sources(recipe.src)
    if isinstance(recipe, ChannelScale):
        return sources(recipe.src) + sources(recipe.by)
    return [s for part in recipe.parts for s in sources(part)]


# ---- evaluation on numpy arrays ------------------------------------------------------------------
Arrays = dict[str, np.ndarray]


def _load(state: Mapping[str, np.ndarray], r: Load) -> Arrays:
    """The tensors at `r.scope`; a bias (`bias`, attention's `in_proj_bias`...) may be absent."""
    out: Arrays = {}
    for name in OPS[r.op].tensors:
        key = f"{r.scope}.{name}"
        if key in state:
            out[name] = np.asarray(state[key])
        elif not name.endswith("bias"):
            raise CompilerBug(f"the weights have no '{key}' (the driver checks them first)")
    return out


#: The tensors a per-output-channel factor multiplies, for layers other than weight/bias ones.
_OUTPUT_TENSORS = {"attention": ("out_proj.weight", "out_proj.bias")}


def layer_op(recipe: Recipe) -> str:
    """The op of the layer whose tensors `recipe` describes: that of its innermost `Load`."""
    while not isinstance(recipe, Load):
        recipe = recipe.parts[0] if isinstance(recipe, Concat) else recipe.src
    return recipe.op


def _per_output(a: np.ndarray, v: np.ndarray, op: str) -> np.ndarray:
    """`a` (a tensor of a layer of `op`) times `v`, one factor per output channel, in float64.

    A conv_transpose weight is (in, out/groups, kh, kw): output channel g·(out/groups) + j is
    column j of the g-th block of in/groups rows. Everything else holds output channels in dim 0.
    """
    a64 = a.astype(np.float64)
    if op == "conv_transpose" and a.ndim == 4:
        groups = v.shape[0] // a.shape[1]
        blocks = a64.reshape(groups, a.shape[0] // groups, *a.shape[1:])
        return (blocks * v.reshape(groups, 1, -1, 1, 1)).reshape(a.shape)
    return a64 * v.reshape((-1,) + (1,) * (a.ndim - 1))


def _scaled(src: Arrays, v: np.ndarray, op: str) -> Arrays:
    """`src` (a layer's tensors) with its output channels multiplied by `v`, in the source dtype."""
    outputs = _OUTPUT_TENSORS.get(op, ("weight", "bias"))
    return {k: _per_output(t, v, op).astype(t.dtype) if k in outputs else t for k, t in src.items()}


def evaluate(recipe: Recipe, state: Mapping[str, np.ndarray]) -> Arrays:
    """The tensors a recipe describes, computed from the -O0 `state` (numpy arrays)."""
    if isinstance(recipe, Load):
        return _load(state, recipe)
    if isinstance(recipe, FoldBN):
        src, bn = evaluate(recipe.src, state), evaluate(recipe.bn, state)
        w = src["weight"]
        f64 = np.float64
        s = bn["weight"].astype(f64) / np.sqrt(bn["running_var"].astype(f64) + recipe.eps)
        b = src["bias"].astype(f64) if "bias" in src else np.zeros(s.shape[0], f64)
        return {
            "weight": _per_output(w, s, layer_op(recipe.src)).astype(w.dtype),
            "bias": ((b - bn["running_mean"].astype(f64)) * s + bn["bias"].astype(f64)).astype(
                w.dtype
            ),
        }
    if isinstance(recipe, Scale):
        src = evaluate(recipe.src, state)
        outputs = _OUTPUT_TENSORS.get(layer_op(recipe.src), tuple(src))
        return {
            k: (v.astype(np.float64) * recipe.s).astype(v.dtype) if k in outputs else v
            for k, v in src.items()
        }
    if isinstance(recipe, ChannelScale):
        src = evaluate(recipe.src, state)
        gamma = evaluate(recipe.by, state)["gamma"].astype(np.float64)
        return _scaled(src, gamma, layer_op(recipe.src))
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


def carry_weights(graph: Graph, state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The state_dict of `graph`'s module (an optimised graph of a model), computed from the -O0
    `state` by every parametric node's recipe; keys in the graph's order."""
    out: dict[str, np.ndarray] = {}
    for n in graph.order():
        if graph.op(n) not in WEIGHTED:
            continue
        tensors = evaluate(recipe_of(graph, n), state)
        has_bias = any(name == "bias" for name, _ in state_tensors(graph.op(n), graph.attrs(n)))
        if has_bias != ("bias" in tensors):
            raise CompilerBug(f"the weight recipe of {graph.scope(n)} disagrees with its bias")
        for name, value in tensors.items():
            out[f"{graph.scope(n)}.{name}"] = value
    return out
