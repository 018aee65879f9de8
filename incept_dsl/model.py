"""`Model`: one elaborated model and what can be made of it (PyTorch, ONNX, figures, tables)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from incept_dsl import __version__
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
from incept_dsl.backends.pytext import utf8_text
from incept_dsl.errors import InceptExportError, UsageError
from incept_dsl.ir.graph import Graph, Head
from incept_dsl.ir.ops import param_count
from incept_dsl.outputs import check_output


@dataclass(frozen=True)
class OnnxCall:
    """`Model.to_onnx`'s keyword options (see there)."""

    keep_aux: bool = False
    functions: bool = False
    init: str | None = None
    seed: int = 0
    check: bool = False


#: `summarize`'s arguments that `Model.summary` fills in itself.
_SUMMARY_GRAPHS = ("with_aux", "without_aux", "baseline", "source")


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
        """Trainable parameters (weights, biases, BN affine), as `sum(p.numel())` in PyTorch;
        without aux heads, those of the nodes an output depends on (what `prune-aux` keeps)."""
        g = self.graph
        nodes = g.nodes() if include_aux else g.live_nodes(("output",))
        return sum(param_count(g.op(n), g.attrs(n))[0] for n in nodes)

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
        opt_level = check_opt_level(opt_level)
        if keep_aux is not None:
            check_bool(keep_aux, "keep_aux")
        return self._lower(opt_level, keep_aux)[0]

    def _lower(
        self,
        opt_level: int,
        keep_aux: bool | None = None,
        weights: Mapping[str, Any] | None = None,
        target: str = "torch",
    ) -> tuple[Graph, dict[str, Any] | None]:
        """`incept_dsl.driver.lower` of this model; the driver (and every pass) is imported on
        first use, so that `check`, which only builds the model, imports none of them."""
        from incept_dsl.driver import lower

        return lower(self, opt_level, keep_aux, weights, target=target)

    # ---- backends
    def torch_source(
        self, opt_level: int = 0, init: str | None = None, keep_aux: bool | None = None
    ) -> str:
        """The standalone Python source of this model's module (imports only torch)."""
        from incept_dsl.backends.torch.codegen import DEFAULT_INIT, torch_source

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
        is loaded strictly. At -O1/-O2 it is an inference form (batch norms folded, aux heads
        pruned) holding `state_dict` carried through the passes, in eval mode with parameters
        that do not require grad. Initialisation when no `state_dict` is given: `init` (see
        `incept_dsl.backends.torch.init_schemes.INIT_SCHEMES`; default `fan_in`, which starts
        every bundled model with logits of order 1).
        """
        from incept_dsl.backends.state_arrays import numpy_state
        from incept_dsl.backends.torch.codegen import DEFAULT_INIT, build_module
        from incept_dsl.backends.torch.optimized import optimized_module

        opt_level = check_opt_level(opt_level)
        scheme = check_init(init) or DEFAULT_INIT
        state = check_state_dict(state_dict)
        if state is None and opt_level == 0:
            return build_module(self.graph, None, scheme)
        if state is None:  # a fresh -O0 initialisation, carried through the passes
            state = build_module(self.graph, None, scheme).state_dict()
        try:
            graph, weights = self._lower(opt_level, None, numpy_state(state))
            assert weights is not None
            if opt_level == 0:
                return build_module(graph, weights, scheme)
            return optimized_module(graph, weights, scheme)
        except (RuntimeError, InceptExportError) as err:
            if state_dict is None:  # no weights of the caller's: not their mistake
                raise
            raise state_dict_error(err) from None

    def loss(self, outputs, target, criterion=None):
        """(total, parts): the heads' losses weighted as declared (`aux ... weight W`), computed
        by the generated module's own `loss` code (`backends.torch.loss`).

        `outputs`: what the module returned (a tensor, or the named tuple of its heads), or a
        plain tuple (an exported program's output) of every head or of the `output` heads.
        """
        from collections import namedtuple

        from incept_dsl.backends.torch.loss import weighted_loss

        if outputs is None or target is None:
            raise UsageError("loss takes the module's outputs and the target; got None")
        if criterion is not None and not callable(criterion):
            raise UsageError(
                f"criterion must be a callable such as F.cross_entropy; got {criterion!r}"
            )
        heads = self.graph.heads
        if isinstance(outputs, tuple) and not hasattr(outputs, "_asdict"):
            names = [h.name for h in heads]
            if len(outputs) != len(names):
                names = [h.name for h in heads if h.kind == "output"]
            if len(outputs) != len(names):
                raise ValueError(
                    f"{len(outputs)} outputs given; {self.name} has {len(heads)} "
                    f"heads ({sum(h.kind == 'output' for h in heads)} outputs)"
                )
            outputs = namedtuple("Outputs", names)(*outputs)
        elif not isinstance(outputs, tuple):
            first = next(h.name for h in heads if h.kind == "output")
            outputs = namedtuple("Outputs", [first])(outputs)
        return weighted_loss(
            tuple((h.name, h.kind, h.weight) for h in heads), outputs, target, criterion
        )

    def to_onnx(
        self,
        path: str | Path | None = None,
        opt_level: int = 1,
        state_dict: Mapping[str, Any] | None = None,
        opset: int | None = None,
        **options: Any,
    ):
        """The `onnx.ModelProto` of this model at `-O<opt_level>`; written to `path` when given.

        `state_dict`: weights of the -O0 module (torch tensors or numpy arrays); without it a fresh
        numpy initialisation. Options (`OnnxCall`): `keep_aux` keeps the aux heads as extra
        outputs; `functions` makes each block instance a local function; `init` (a scheme of
        `INIT_SCHEMES`, default fan_in) and `seed` choose the fresh weights; `check` runs
        `onnx.checker.check_model` on the result. See `incept_dsl.backends.onnx.export` for what
        the graph guarantees.
        """
        from incept_dsl.backends.init_numpy import init_state
        from incept_dsl.backends.onnx.export import check_opset, export
        from incept_dsl.backends.state_arrays import numpy_state
        from incept_dsl.backends.torch.init_schemes import DEFAULT_INIT

        path = None if path is None else check_path(path)
        opt_level = check_opt_level(opt_level)
        check_options("to_onnx", options, hints_of(OnnxCall))
        call = OnnxCall(**options)
        scheme = check_init(call.init) or DEFAULT_INIT
        opset = check_opset(opset)
        if path is not None:  # before the work: never over an input, a folder or a non-.onnx name
            check_output(Path(path), (".onnx",), self.source_files, "to_onnx")
        if state_dict is not None:
            state, origin = numpy_state(state_dict), "state_dict"
        else:
            state = init_state(self.graph, scheme, call.seed)
            origin = f"fresh {scheme} initialisation, seed {call.seed}"
        graph, weights = self._lower(opt_level, call.keep_aux, state, target="onnx")
        source = self.source_path.name if self.source_path else str(graph.data.get("source"))
        metadata = {
            "incept.model": graph.name,
            "incept.source": source,
            "incept.source_sha256": self.source_sha256 or "",
            "incept.compiler_version": __version__,
            "incept.opt_level": str(opt_level),
            "incept.params": json.dumps(self.params, sort_keys=True, default=str),
            "incept.weights": origin,
        }
        return export(
            graph,
            weights or {},
            opset,
            metadata,
            functions=call.functions,
            path=path,
            inputs=self.source_files,
            check=call.check,
        )

    def to_dot(self, **options: Any) -> str:
        """The Graphviz DOT text of a figure of this model (see `incept_dsl.backends.figure`)."""
        from incept_dsl.backends.figure.dot import FigureOptions, to_dot

        check_options("to_dot", options, hints_of(FigureOptions))
        opts = FigureOptions(**options)
        return to_dot(self.figure_graph(opts.opt_level, opts.aux), opts)

    def figure_graph(self, opt_level: int, aux: bool) -> Graph:
        """The graph a figure draws: -O<opt_level>, aux heads kept only at -O0 when `aux`."""
        return self._lower(opt_level, aux and opt_level == 0)[0]

    def diff(self, other: Model, opt_level: int = 0, names: tuple[str, str] | None = None) -> str:
        """A structural comparison of this model with `other` at -O<opt_level> (aux heads kept
        at -O0): totals, the top-level blocks and the layers that differ, with shapes and
        parameters (see `incept_dsl.backends.summary.diff`). `names` label the two columns
        (default: the models' names)."""
        from incept_dsl.backends.summary.diff import diff_text

        level = check_opt_level(opt_level)
        graphs = (self.figure_graph(level, True), other.figure_graph(level, True))
        return diff_text(*graphs, names or (self.name, other.name))

    def summary(self, **options: Any):
        """The per-layer cost table (see `incept_dsl.backends.summary`).

        Options: `opt_level` (0), `keep_aux` (False), `by` ("layer" or "block"), `flops`. At -O1
        and -O2 the totals without aux heads are those of the inference graph, the totals with
        them those of the graph optimised with its aux heads kept, and the -O0 totals come along
        as the baseline.
        """
        from incept_dsl.backends.summary.table import summarize

        check_options("summary", options, hints_of(summarize, skip=_SUMMARY_GRAPHS))
        level = check_opt_level(options.pop("opt_level", 0))
        source = utf8_text(self.source_path.name) if self.source_path else None
        if not level:
            return summarize(self.graph, source=source, **options)
        with_aux, without_aux = self.optimized(level, True), self.optimized(level, False)
        return summarize(
            with_aux, without_aux, self.graph, opt_level=level, source=source, **options
        )
