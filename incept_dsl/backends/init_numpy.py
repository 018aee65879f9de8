"""Fresh weights for a graph, in numpy, without importing torch.

`init_state(graph, scheme, seed)` returns a dict keyed exactly like the state_dict of the PyTorch
module that `incept_dsl.backends.torch.codegen` generates for the same graph (`conv_1.weight`,
`inception_3a.branch_2.conv_1.bias`, `conv_1.bn.running_var`, `...num_batches_tracked`), with the
same shapes and dtypes (float32; int64 for `num_batches_tracked`), so the result loads strictly
into that module after `torch.from_numpy`.

The schemes mirror `to_torch.INIT_SCHEMES` in distribution (not in random stream: the numbers
differ from torch's RNG). Every tensor is drawn from its own generator seeded by `(seed, key)`, so
a layer's weights depend only on the seed and its own name: pruning aux heads or adding a layer
elsewhere leaves them unchanged. Same graph and seed -> bit-identical arrays.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator

import numpy as np

from incept_dsl.backends.torch.init_schemes import residual_branch_ends
from incept_dsl.ir.graph import Graph
from incept_dsl.ir.ops import state_tensors

SCHEMES = ("fan_in", "kaiming", "trunc_normal", "torch")


def state_shapes(graph: Graph) -> Iterator[tuple[str, int, str, tuple[int, ...]]]:
    """(key, node, role, shape) of every tensor of the module's state_dict, in graph order, as
    the op table says (`ir.ops.state_tensors`).

    `role` is one of weight, bias, running_mean, running_var, num_batches_tracked.
    """
    for n in graph.nodes():
        for role, shape in state_tensors(graph.op(n), graph.attrs(n)):
            yield f"{graph.scope(n)}.{role}", n, role, shape


def _rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(key.encode())]))


def _trunc_normal(
    rng: np.random.Generator, shape: tuple[int, ...], std: float, lo: float, hi: float
) -> np.ndarray:
    """N(0, std) truncated to [lo, hi] by redrawing the values outside (as torch's bounds are)."""
    out = rng.standard_normal(shape, dtype=np.float32)
    out *= np.float32(std)
    bad = (out < lo) | (out > hi)
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()), dtype=np.float32) * np.float32(std)
        bad = (out < lo) | (out > hi)
    return out


def _uniform(rng: np.random.Generator, shape: tuple[int, ...], bound: float) -> np.ndarray:
    """U(-bound, bound) in float32, drawn in float32 (no float64 temporary)."""
    out = rng.random(shape, dtype=np.float32)
    out *= np.float32(2 * bound)
    out -= np.float32(bound)
    return out


def _fans(op: str, shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) as torch.nn.init computes them for a weight of this shape."""
    receptive = math.prod(shape[2:]) if op == "conv" else 1
    return shape[1] * receptive, shape[0] * receptive


def _tensor(
    graph: Graph, n: int, key: str, role: str, shape: tuple[int, ...], scheme: str, seed: int
) -> np.ndarray:
    op = graph.op(n)
    if op == "layer_scale":  # its `init`, whatever the scheme
        return np.full(shape, graph.attrs(n)["init"], dtype=np.float32)
    if op in ("batchnorm", "groupnorm"):  # weight 1, bias 0 (statistics 0 and 1)
        if role == "num_batches_tracked":
            return np.zeros(shape, dtype=np.int64)
        fill = 1.0 if role in ("weight", "running_var") else 0.0
        return np.full(shape, fill, dtype=np.float32)
    rng = _rng(seed, key)
    if role == "bias":
        if scheme == "torch":  # uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) from the weight's fan-in
            a = graph.attrs(n)
            fan_in = (
                a["in_channels"] // a["groups"] * math.prod(a["kernel"])
                if op == "conv"
                else a["in_features"]
            )
            return _uniform(rng, shape, 1.0 / math.sqrt(fan_in) if fan_in else 0.0)
        return np.zeros(shape, dtype=np.float32)
    fan_in, fan_out = _fans(op, shape)
    if scheme in ("kaiming", "fan_in"):
        # conv: kaiming_normal_(mode="fan_out" | "fan_in", nonlinearity="relu"); linear: N(0, 0.01)
        fan = fan_out if scheme == "kaiming" else fan_in
        std = (math.sqrt(2.0 / fan) if fan else 0.0) if op == "conv" else 0.01
        out = rng.standard_normal(shape, dtype=np.float32)
        out *= np.float32(std)
        return out
    if scheme == "trunc_normal":
        return _trunc_normal(rng, shape, 0.01, -2.0, 2.0)
    return _uniform(rng, shape, 1.0 / math.sqrt(fan_in) if fan_in else 0.0)  # a = sqrt(5)


def init_state(graph: Graph, scheme: str = "fan_in", seed: int = 0) -> dict[str, np.ndarray]:
    """Fresh weights for every parametric node of `graph` (see the module doc); a layer_scale
    holds its `init` under every scheme.

    Raises ValueError for an unknown scheme.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; choose from {', '.join(SCHEMES)}")
    zeroed = set(residual_branch_ends(graph)) if scheme == "fan_in" else set()
    return {
        key: (
            np.zeros(shape, dtype=np.float32)
            if role == "weight" and graph.scope(n) in zeroed
            else _tensor(graph, n, key, role, shape, scheme, seed)
        )
        for key, n, role, shape in state_shapes(graph)
    }
