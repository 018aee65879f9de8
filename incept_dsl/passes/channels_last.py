"""channels-last: run image tensors in the channels-last (NHWC) memory format.

On CPU, oneDNN convolutions and the pooling kernels work natively in NHWC: in eager NCHW GoogLeNet
at batch 1, max pooling alone is 35-44 % of the time and 12× faster in channels-last. The memory
format is a layout choice, not a change of function: values, shapes (N×C×H×W) and indexing stay
the same, so only the PyTorch backend reads it (``graph.data["memory_format"]``).

Guarantees: sets the layout when the model has a convolution or pooling on images (where it
pays); returns whether the layout changed. Nodes are untouched.
"""

from __future__ import annotations

from incept_dsl.ir.graph import Graph
from incept_dsl.ir.ops import OPS
from incept_dsl.passes.common import note

LAYOUT = "channels_last"


def channels_last(graph: Graph) -> bool:
    if graph.data.get("memory_format") == LAYOUT:
        return False
    image_ops = [
        n
        for n in graph.nx
        if OPS[graph.op(n)].family in ("conv", "pool") and len(graph.shape(graph.inputs(n)[0])) == 3
    ]
    if not image_ops:
        note(graph, "kept the default layout: no convolution or pooling on images")
        return False
    graph.data["memory_format"] = LAYOUT
    note(
        graph,
        f"image tensors in channels-last memory format ({len(image_ops)} convolution "
        "and pooling nodes)",
    )
    return True
