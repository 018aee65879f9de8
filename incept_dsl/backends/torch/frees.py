"""PyTorch backend, the rules for when a generated `forward` lets go of a tensor and which
activations run in place. The code generator (`render`, `codegen`) writes its `del`s, reused
locals and `inplace=True` from these rules, and `schedule` replays them for the cost tables, so
the two cannot disagree.

A frame is one `forward` (the model's or a block class's) running its items (nodes or calls of
child units) in order; a tensor read there dies after its last reading item unless the frame
keeps it (its outputs, its own parameters, which the caller holds until the call returns, the
tensors the aux heads read later).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from incept_dsl.ir.graph import Graph

#: Activations run in place on a chain's tensor (its last use), when the op that made it does not
#: keep its output for the backward pass: each block's input lives until the block returns (its
#: caller holds it), and an in-place activation gives back that tensor's worth of memory.
IN_PLACE = ("relu", "relu6")
KEEPS_NO_OUTPUT = ("conv", "batchnorm", "add", "linear", "maxpool", "avgpool", "concat", "scale")


def frame_frees(reads: Sequence[Sequence[int]], keep: Collection[int]) -> list[list[int]]:
    """Per item of a frame (`reads[j]`: the tensors item `j` reads, in argument order), the
    tensors that die after it: read there for the last time in the frame and not in `keep`, in
    the order item `j` reads them (each once)."""
    last: dict[int, int] = {}
    for j, ts in enumerate(reads):
        for t in ts:
            last[t] = j
    return [
        [t for t in dict.fromkeys(ts) if last[t] == j and t not in keep]
        for j, ts in enumerate(reads)
    ]


def in_place(g: Graph, n: int, dying: Collection[int]) -> bool:
    """Whether node `n` runs in place on its input, given the tensors `dying` after it in its
    frame: a chain activation (`IN_PLACE`) whose one input dies there and was made by an op that
    does not save its output for the backward pass (`KEEPS_NO_OUTPUT`). Its output then shares
    its input's memory."""
    ins = g.inputs(n)
    return (
        g.op(n) in IN_PLACE
        and len(ins) == 1
        and g.op(ins[0]) in KEEPS_NO_OUTPUT
        and ins[0] in dying
    )
