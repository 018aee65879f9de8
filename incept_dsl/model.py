"""`Model`: one elaborated model and what can be made of it (PyTorch, ONNX, figures, tables)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from incept_dsl.api_args import (
    check_bool,
    check_init,
    check_opt_level,
    check_options,
    check_path,
    check_state_dict,
    hints_of,
    state_dict_error,
)
from incept_dsl.errors import UsageError
from incept_dsl.ir.graph import Graph, Head
from incept_dsl.ir.ops import param_count

#: `to_onnx`'s arguments that `Model.to_onnx` takes by name itself.
_ONNX_POSITIONAL = ("model", "path", "opt_level", "state_dict", "opset")


class Model:
    """A shape-checked model.

    `name`; `inputs` ({name: shape}, in declaration order); `outputs` ({name: shape} of the
    `output` heads, in order); `aux` ({name: (shape, weight)}); `heads` (every `Head`);
    `graph` (the IR, at -O0); `source_path`; `params` (the model parameters' values);
    `source_files` (every file the program was read from: the main file and its imports, resolved;
    outputs must never overwrite them).
    """

    def __init__(
        self,
        graph: Graph,
        source_path: Path | None = None,
        source_sha256: str = "",
        source_files: tuple[Path, ...] = (),
    ):
        self.graph = graph
        self.source_path = source_path
        self.source_sha256 = source_sha256
        self.source_files = source_files

    # ---- description
    @property
    def name(self) -> str:
        return self.graph.name

    @property
    def inputs(self) -> dict[str, tuple[int, ...]]:
        return {self.graph.attrs(n)["name"]: self.graph.shape(n) for n in self.graph.input_nodes()}

    @property
    def outputs(self) -> dict[str, tuple[int, ...]]:
        return {h.name: self.graph.shape(h.node) for h in self.graph.heads if h.kind == "output"}

    @property
    def aux(self) -> dict[str, tuple[tuple[int, ...], float]]:
        return {
            h.name: (self.graph.shape(h.node), h.weight)
            for h in self.graph.heads
            if h.kind == "aux"
        }

    @property
    def heads(self) -> list[Head]:
        return list(self.graph.heads)

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.graph.data["params"])

    def param_count(self, include_aux: bool = True) -> int:
        """Trainable parameters (weights, biases, BN affine), as `sum(p.numel())` in PyTorch."""
        g = self.graph if include_aux else self.optimized(0, keep_aux=False)
        return sum(param_count(g.op(n), g.attrs(n))[0] for n in g.nodes())

    def __repr__(self) -> str:
        ins = ", ".join(f"{k}: {'x'.join(map(str, v))}" for k, v in self.inputs.items())
        outs = ", ".join(f"{k}: {'x'.join(map(str, v))}" for k, v in self.outputs.items())
        return f"<Model {self.name} ({ins}) -> ({outs})>"

    # ---- optimisation
    def optimized(self, opt_level: int = 0, keep_aux: bool | None = None) -> Graph:
        """The IR after the `-O<opt_level>` pipeline (a copy; `self.graph` is never changed).

        Aux heads are kept at -O0 (the trainable form) and pruned at -O1/-O2 (inference forms)
        unless `keep_aux` says otherwise.
        """
        from incept_dsl.passes import run_pipeline

        opt_level = check_opt_level(opt_level)
        if keep_aux is not None:
            check_bool(keep_aux, "keep_aux")
        keep_aux = opt_level == 0 if keep_aux is None else keep_aux
        g = run_pipeline(self.graph, opt_level, keep_aux=keep_aux)
        if not keep_aux:
            g.eliminate_dead_code(keep_kinds=("output",))
        return g

    # ---- backends
    def torch_source(
        self, opt_level: int = 0, init: str | None = None, keep_aux: bool | None = None
    ) -> str:
        """The standalone Python source of this model's module (imports only torch)."""
        from incept_dsl.backends.to_torch import DEFAULT_INIT, torch_source

        init = check_init(init)
        origin = self.source_path.name if self.source_path else None
        return torch_source(
            self.optimized(opt_level, keep_aux), init or DEFAULT_INIT, origin=origin
        )

    def to_torch(
        self,
        opt_level: int = 0,
        state_dict: Mapping[str, Any] | None = None,
        init: str | None = None,
    ):
        """A `torch.nn.Module` for this model.

        At `opt_level=0` it is the canonical, trainable form; `state_dict` (of the -O0 module)
        is loaded strictly. Initialisation when no `state_dict` is given: `init` (see
        `incept_dsl.backends.torch_init.INIT_SCHEMES`; default `fan_in`, which starts
        every bundled model with logits of order 1).
        """
        from incept_dsl.backends.to_torch import DEFAULT_INIT, build_module
        from incept_dsl.weights import WeightMismatch

        opt_level = check_opt_level(opt_level)
        scheme = check_init(init) or DEFAULT_INIT
        state = None if state_dict is None else check_state_dict(state_dict, self._state_shapes())
        try:
            if opt_level != 0:
                from incept_dsl.backends.optimize_weights import to_torch_optimized

                return to_torch_optimized(self, opt_level, state, scheme)
            return build_module(self.graph, state, scheme)
        except (RuntimeError, WeightMismatch) as err:
            if state is None:  # no weights of the caller's: not their mistake
                raise
            raise state_dict_error(err) from None

    def _state_shapes(self) -> dict[str, tuple[tuple[int, ...], bool]]:
        """{key: (shape, floating)} of the -O0 module's state_dict, from the IR (no module built)."""
        from incept_dsl.backends.init_numpy import state_shapes

        return {
            key: (shape, role != "num_batches_tracked")
            for key, _, role, shape in state_shapes(self.graph)
        }

    def loss(self, outputs, target, criterion=None):
        """(total, parts): the heads' losses weighted as declared (`aux ... weight W`)."""
        import torch.nn.functional as F

        if outputs is None or target is None:
            raise UsageError("loss takes the module's outputs and the target; got None")
        if criterion is not None and not callable(criterion):
            raise UsageError(
                f"criterion must be a callable such as F.cross_entropy; got {criterion!r}"
            )
        criterion = criterion if criterion is not None else F.cross_entropy
        weights = {h.name: h.weight for h in self.graph.heads}
        heads = self.graph.heads
        if not isinstance(outputs, tuple):
            first = next(h.name for h in heads if h.kind == "output")
            outputs_d = {first: outputs}
        elif hasattr(outputs, "_asdict"):
            outputs_d = outputs._asdict()
        else:  # a plain tuple (an exported program's output): every head, or the outputs only
            names = [h.name for h in heads]
            if len(outputs) != len(names):
                names = [h.name for h in heads if h.kind == "output"]
            if len(outputs) != len(names):
                raise ValueError(
                    f"{len(outputs)} outputs given; {self.name} has {len(heads)} "
                    f"heads ({sum(h.kind == 'output' for h in heads)} outputs)"
                )
            outputs_d = dict(zip(names, outputs, strict=True))
        parts = {h: criterion(out, target) for h, out in outputs_d.items()}
        total = sum(weights[h] * p for h, p in parts.items())
        return total, parts

    def to_onnx(
        self,
        path: str | Path | None = None,
        opt_level: int = 1,
        state_dict: Mapping[str, Any] | None = None,
        opset: int | None = None,
        **options: Any,
    ):
        """Export to ONNX straight from the IR (see `incept_dsl.backends.to_onnx`)."""
        from incept_dsl.backends.to_onnx import to_onnx

        if path is not None:
            path = check_path(path)
        check_opt_level(opt_level)
        check_options("to_onnx", options, hints_of(to_onnx, skip=_ONNX_POSITIONAL))
        return to_onnx(
            self, path, opt_level=opt_level, state_dict=state_dict, opset=opset, **options
        )

    def to_dot(self, **options: Any) -> str:
        """The Graphviz DOT text of a figure of this model (see `incept_dsl.backends.to_dot`)."""
        from incept_dsl.backends.to_dot import FigureOptions, to_dot

        check_options("to_dot", options, hints_of(FigureOptions))
        return to_dot(self, **options)

    def summary(self, **options: Any):
        """The per-layer cost table (see `incept_dsl.backends.summary`)."""
        from incept_dsl.backends.summary import summarize

        check_options("summary", options, hints_of(summarize, skip=("model",)))
        return summarize(self, **options)
