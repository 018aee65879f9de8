"""Weight recipes: how an optimised node's parameters derive from the -O0 module's state_dict.

Passes that change weights (BN folding, scale folding, sibling merging) do not touch arrays: they
record, in the new or changed node's ``meta["weights"]``, a recipe over the -O0 tensors. A recipe is
a small immutable tree; `recipe_arrays.evaluate` computes it on numpy arrays and
`recipe_arrays.carry_weights` gives an optimised graph's whole state_dict (float64 arithmetic,
stored in the source dtype). This module stays free of numpy, so checking a program never imports
it. A parametric node without a recipe loads its own scope's tensors unchanged (`Load`).

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

from dataclasses import dataclass

from incept_dsl.ir.graph import Graph


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
