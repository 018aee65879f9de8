"""The pass pipeline, as data.

A pass is `PassFn = Callable[[Graph], bool]`: it rewrites the graph in place and returns whether it
changed anything (a second run returns False). `PIPELINES[level]` lists, by name, what `-O<level>`
runs; `run_pipeline` verifies the IR after every pass and names the culprit when it breaks.
"""

from __future__ import annotations

from collections.abc import Callable

from incept_dsl.errors import CompilerBug, InceptError
from incept_dsl.ir.graph import Graph
from incept_dsl.ir.verify import verify
from incept_dsl.passes.cancel_split_concat import cancel_split_concat
from incept_dsl.passes.channels_last import channels_last
from incept_dsl.passes.common import take_notes
from incept_dsl.passes.eliminate_dead_code import eliminate_dead_code
from incept_dsl.passes.eliminate_dropout import eliminate_dropout
from incept_dsl.passes.flatten_concat import flatten_concat
from incept_dsl.passes.fold_batchnorm import fold_batchnorm
from incept_dsl.passes.fold_scale import fold_scale
from incept_dsl.passes.infer_shapes import infer_shapes
from incept_dsl.passes.merge_sibling_convs import merge_sibling_convs
from incept_dsl.passes.prune_aux import prune_aux
from incept_dsl.passes.select_kernels import select_kernels

PassFn = Callable[[Graph], bool]

PASSES: dict[str, PassFn] = {
    "infer-shapes": infer_shapes,
    "prune-aux": prune_aux,
    "eliminate-dropout": eliminate_dropout,
    "fold-batchnorm": fold_batchnorm,
    "fold-scale": fold_scale,
    "merge-sibling-convs": merge_sibling_convs,
    "cancel-split-concat": cancel_split_concat,
    "flatten-concat": flatten_concat,
    "eliminate-dead-code": eliminate_dead_code,
    "channels-last": channels_last,
    "select-kernels": select_kernels,
}

#: -O1: exact structural rewrites for inference (eval-mode function unchanged: dropout and
#: stochastic depth go, batch norms and scales fold). -O2: also layouts and kernel choices (fp32
#: results within 1e-4 of -O0). Lower precision is never implied by a level.
_O1 = (
    "prune-aux",
    "eliminate-dropout",
    "fold-batchnorm",
    "fold-scale",
    "merge-sibling-convs",
    "cancel-split-concat",
    "flatten-concat",
    "eliminate-dead-code",
)

PIPELINES: dict[int, tuple[str, ...]] = {
    0: (),
    1: _O1,
    2: (*_O1, "channels-last", "select-kernels"),
}

#: What a target leaves out of its pipeline because its runtime does it better itself (issue 18).
#: onnxruntime and OpenVINO merge sibling convolutions on their own, and the `Split` after a merged
#: conv stops onnxruntime's blocked (NCHWc) layout: its optimised ResNet-50 graph gained
#: ReorderInput/ReorderOutput nodes and unfused Relu/Add around each one, and ran 0.90-0.95x as
#: fast as the same file without merging (`bench/peers.py`). So ONNX files keep their siblings;
#: PyTorch eager, which runs each conv as its own kernel, gets them merged.
TARGET_SKIPS: dict[str, tuple[str, ...]] = {
    "onnx": ("merge-sibling-convs", "cancel-split-concat"),
}

#: Passes that remove training-only parts; `keep_aux=True` skips them.
AUX_PASSES = ("prune-aux",)

Log = Callable[[str, bool, Graph, list[str]], None]


def run_pipeline(
    graph: Graph,
    level: int = 0,
    passes: tuple[str, ...] | None = None,
    log: Log | None = None,
    keep_aux: bool = False,
) -> Graph:
    """Run `passes` (default: the `-O<level>` pipeline) on a copy of `graph`; return the copy.

    The IR is verified after every pass that changed it (the input graph is verified by
    elaboration), and a pass that crashes raises `CompilerBug`; both name the pass and those
    before it.
    `keep_aux` skips `AUX_PASSES`. `log(name, changed, graph, notes)` is called after each pass
    (for `--explain` / `--print-after-all`); `notes` are the pass's own lines saying what it
    changed and what it left and why.
    """
    names = PIPELINES[level] if passes is None else passes
    if keep_aux:
        names = tuple(n for n in names if n not in AUX_PASSES)
    g = graph.copy()
    ran: list[str] = []
    for name in names:
        take_notes(g)
        try:
            changed = PASSES[name](g)
        except InceptError:
            raise
        except Exception as err:  # a crash inside a pass is a compiler bug: name the pass
            before = f" (passes run before it: {', '.join(ran)})" if ran else ""
            raise CompilerBug(f"pass '{name}' failed{before}: {type(err).__name__}: {err}") from err
        notes = take_notes(g)
        ran.append(name)
        if changed:  # an unchanged graph is the one verified after the previous pass
            verify(g, after=name, ran=tuple(ran[:-1]))
        if log is not None:
            log(name, changed, g, notes)
    return g
