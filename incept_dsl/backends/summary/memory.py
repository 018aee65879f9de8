"""Memory of a model at a batch size: parameters and buffers, the input, and the peak of the
activations the generated forward holds at once.

The generated forward runs its nodes and drops its tensors as `backends.torch.schedule` says
(the one account of the module `backends.torch.codegen` writes: a block class's inputs live until
the call returns, a repeat's loop drops each copy's input when that copy returns, the heads and
what an aux head reads are kept to the end, in training mode the aux heads run after the main
path). `forward_peak` replays that schedule: a node's output is allocated when the node runs
(while its inputs are alive), and its storage is released once every tensor sharing it is.
Views (`IROp.view`: flatten, slice, crop, ...), in-place activations (the block classes'
`inplace=True`, -O2's `meta["inplace"]`), ops a conv computed (`meta["fused_into"]`) and dropouts
in eval mode (PyTorch returns the input itself) share their input's storage and add nothing.
With a channels-last layout (-O2) the image inputs' channels-last copies are activations too.
Temporaries inside one op (convolution workspaces, attention's score matrix) are not outputs
and are not counted.

An analysis of the IR: it reads the graph and never changes it. Every count is exact and the
same graph gives the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from incept_dsl.backends.torch.schedule import Schedule, schedule
from incept_dsl.ir.costs import BYTES_PER_ELEMENT, memory_bytes
from incept_dsl.ir.graph import Graph
from incept_dsl.ir.op_state import BUFFERS
from incept_dsl.ir.ops import OPS, state_tensors

#: bytes of a state_dict entry that PyTorch keeps as int64 (batch norm's batch count)
_INT64_STATE = ("num_batches_tracked",)


@dataclass(frozen=True)
class Memory:
    """A model's memory at `batch` samples, in bytes (fp32 tensors, 4 bytes per element).

    `input_bytes`: the input batch; `peak_bytes`: the most activation bytes alive at once in the
    forward in eval mode (the input excluded: the caller owns it); `peak_train_bytes`: the same in
    training mode with the aux heads run and autograd off (`torch.no_grad`); `param_bytes` and
    `buffer_bytes`: the parameters and buffers, which do not scale with the batch; `trainable` and
    `non_trainable`: parameter counts (the compiler freezes nothing, so `non_trainable` is 0 as
    long as the module is used as generated)."""

    batch: int
    input_bytes: int
    peak_bytes: int
    peak_train_bytes: int
    param_bytes: int
    buffer_bytes: int
    trainable: int
    non_trainable: int

    @property
    def estimated_total_bytes(self) -> int:
        """Input + peak activations (eval) + parameters + buffers."""
        return self.input_bytes + self.peak_bytes + self.param_bytes + self.buffer_bytes

    def to_dict(self) -> dict[str, int]:
        return {
            "batch": self.batch,
            "input_bytes": self.input_bytes,
            "peak_activation_bytes": self.peak_bytes,
            "peak_activation_bytes_train": self.peak_train_bytes,
            "param_bytes": self.param_bytes,
            "buffer_bytes": self.buffer_bytes,
            "trainable": self.trainable,
            "non_trainable": self.non_trainable,
            "estimated_total_bytes": self.estimated_total_bytes,
        }


#: ops that return their input tensor itself in eval mode, or with p = 0 (PyTorch's dropout and
#: the generated stochastic depth)
_IDENTITY_IN_EVAL = ("dropout", "stochastic_depth")


def storage_of(g: Graph, n: int, train: bool = False, inplace: bool = False) -> int | None:
    """The node whose output tensor node `n`'s output shares memory with (a view, an in-place
    activation: -O2's `meta["inplace"]` or `inplace` (the block classes' `inplace=True`), an op
    a conv computed, a dropout in eval mode or with p = 0), or None when `n` allocates its own
    (in training mode when `train`)."""
    op, meta = g.op(n), g.meta(n)
    if "fused_into" in meta:
        return int(meta["fused_into"]) if op == "add" else g.inputs(n)[0]
    if OPS[op].view or meta.get("inplace") or inplace:
        return g.inputs(n)[0]
    if op in _IDENTITY_IN_EVAL and (not train or g.attrs(n)["p"] == 0):
        return g.inputs(n)[0]
    return None


def run_order(g: Graph) -> tuple[list[int], list[int]]:
    """(main path, aux path) in the order the generated forward runs them
    (`backends.torch.schedule`): the nodes an output head needs, then those only aux heads
    need."""
    sched = schedule(g)
    return list(sched.order[: sched.main]), list(sched.order[sched.main :])


def forward_peak(
    g: Graph,
    train: bool = False,
    sched: Schedule | None = None,
) -> int:
    """The most bytes of one sample's activations alive at once in the generated forward (see
    the module doc), in eval mode (the main path) or, with `train`, in training mode (the main
    path, then the aux path). Nodes run and tensors are released as `schedule(g)` says; a
    storage is freed once every tensor sharing it is released (never while a head or what an
    aux node reads shares it). `sched`: `schedule(g)` when the caller has it already."""
    sched = sched or schedule(g)
    run = sched.order if train else sched.order[: sched.main]
    root: dict[int, int] = {}

    def root_of(n: int) -> int:
        if n not in root:
            shared = None
            if g.op(n) != "input":
                shared = storage_of(g, n, train, n in sched.in_place)
            root[n] = n if shared is None else root_of(shared)
        return root[n]

    copied = _copied_inputs(g)
    free: dict[int, int] = {}  # storage -> the index after which it goes
    never: set[int] = set()  # storages a tensor held to the end shares
    for t in [*copied, *run]:
        r, at = root_of(t), sched.release.get(t)
        if at is None:
            never.add(r)
        else:
            free[r] = max(free.get(r, -1), at)
    free_at: dict[int, list[int]] = {}
    for r, idx in free.items():
        if r not in never and (g.op(r) != "input" or r in copied):
            free_at.setdefault(idx, []).append(r)
    live = peak = sum(memory_bytes(g.shape(n)) for n in copied)
    for idx, n in enumerate(run):
        if root_of(n) == n:
            live += memory_bytes(g.shape(n))
        peak = max(peak, live)
        for r in free_at.get(idx, []):
            live -= memory_bytes(g.shape(r))
    return peak


def _copied_inputs(g: Graph) -> list[int]:
    """The inputs the forward copies before it runs: image inputs converted to channels-last
    when the graph's layout is (`kernels.input_lines`); the copy is an activation."""
    if g.data.get("memory_format") != "channels_last":
        return []
    return [n for n in g.input_nodes() if len(g.shape(n)) == 3]


def state_bytes(g: Graph) -> tuple[int, int]:
    """(parameter bytes, buffer bytes) of every node's state (fp32; batch counts are int64)."""
    params = buffers = 0
    for n in g.nodes():
        for role, shape in state_tensors(g.op(n), g.attrs(n)):
            size = math.prod(shape)
            if role in _INT64_STATE:
                buffers += 8 * size
            elif role in BUFFERS:
                buffers += BYTES_PER_ELEMENT * size
            else:
                params += BYTES_PER_ELEMENT * size
    return params, buffers


def model_memory(inference: Graph, training: Graph, batch: int) -> Memory:
    """The `Memory` of a model at `batch` samples: the eval-mode peak, the parameters and the
    buffers from the `inference` graph (the graph of the module the model generates at that
    optimisation level), the training-mode peak from the `training` graph (aux heads kept)."""
    params, buffers = state_bytes(inference)
    inputs = sum(memory_bytes(inference.shape(n)) for n in inference.input_nodes())
    sched = schedule(inference)
    train_sched = sched if training is inference else schedule(training)
    return Memory(
        batch=batch,
        input_bytes=batch * inputs,
        peak_bytes=batch * forward_peak(inference, sched=sched),
        peak_train_bytes=batch * forward_peak(training, train=True, sched=train_sched),
        param_bytes=params,
        buffer_bytes=buffers,
        trainable=params // BYTES_PER_ELEMENT,
        non_trainable=0,
    )
