"""ONNX backend, lowering context: `Ctx`, what a per-op lowering sees (the node being lowered,
every node's tensor name) and the helpers it emits through (ONNX nodes named after the node's scope
with its source location, weight and constant initializers, fresh tensor names, opset checks)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from incept_dsl.backends.fresh_names import first_free
from incept_dsl.backends.pytext import utf8_text
from incept_dsl.errors import CompilerBug, InceptExportError
from incept_dsl.ir.graph import Graph
from incept_dsl.ir.ops import state_tensors

#: The opset used unless asked otherwise.
DEFAULT_OPSET = 18

FLOAT = 1  # onnx.TensorProto.FLOAT, without importing onnx at module import


class Ctx:
    """What a lowering sees: the node being lowered, its input tensor names, and emit helpers."""

    def __init__(
        self,
        graph: Graph,
        weights: Mapping[str, np.ndarray],
        opset: int,
        names: dict[int, str],
        used: set[str],
        split_of: dict[int, list[int]],
    ) -> None:
        from onnx import helper

        self.helper = helper
        self.g = graph
        self.weights = weights
        self.opset = opset
        self.names = names  # IR node -> its output tensor (aliases rewrite entries)
        self.used = used
        self.split_of = split_of  # first slice of a partition -> all its slices, by start
        self.sink: list[Any] = []  # the node list being filled (main graph or a function body)
        self.inputs: list[Any] = []
        self.inits: dict[str, np.ndarray] = {}  # initializer name -> value, in creation order
        self.shapes: dict[str, tuple[int, ...]] = {}  # tensor -> shape without the batch dim
        self.n = -1

    # -- the current node
    def begin(self, n: int) -> None:
        self.n = n
        self.scope = self.g.scope(n)
        self.a = self.g.attrs(n)
        self.shape = self.g.shape(n)
        self.out = self.names[n]
        span = self.g.span(n)
        self.loc = f"{utf8_text(Path(span.file).name)}:{span.line}:{span.column}" if span else ""

    def fresh(self, base: str) -> str:
        """A tensor name not used yet, `base` itself when free."""
        name = first_free(base, self.used)
        self.used.add(name)
        return name

    def tmp(self, suffix: str) -> str:
        """A fresh name for an intermediate tensor of the current node."""
        return self.fresh(f"{self.scope}/{suffix}")

    def emit(
        self,
        op_type: str,
        inputs: list[str],
        outputs: list[str] | None = None,
        shapes: list[tuple[int, ...]] | None = None,
        suffix: str | None = None,
        node_name: str | None = None,
        **attrs: Any,
    ) -> None:
        """Append an ONNX node for the current IR node (named after its scope, `/suffix` for
        the helpers of a decomposition, or `node_name`) and record its outputs' shapes."""
        outputs = [self.out] if outputs is None else outputs
        shapes = [self.shape] * len(outputs) if shapes is None else shapes
        name = node_name or (self.scope if suffix is None else f"{self.scope}/{suffix}")
        node = self.helper.make_node(
            op_type,
            inputs,
            outputs,
            name=name,
            doc_string=f"source: {self.loc}" if self.loc else None,
            **attrs,
        )
        props = {"incept.op": self.g.op(self.n)}
        if self.loc:
            props["incept.source"] = self.loc
        self.helper.set_metadata_props(node, props)
        self.sink.append(node)
        for t, s in zip(outputs, shapes, strict=True):
            self.shapes[t] = tuple(s)

    def alias(self, src: str) -> None:
        """The current node is the identity: later nodes read `src` (a head gets its Identity
        node at the end, like every head whose tensor carries another name)."""
        self.names[self.n] = src

    # -- initializers
    def weight(self, role: str) -> str:
        """The initializer `<scope>.<role>` from the weights (which the driver checked against
        the -O0 graph and carried to this one: a missing or misshapen tensor is a compiler bug)."""
        key = f"{self.scope}.{role}"
        if key in self.inits:
            return key
        want = dict(state_tensors(self.g.op(self.n), self.a))[role]
        if key not in self.weights or tuple(np.shape(self.weights[key])) != want:
            raise CompilerBug(f"the weights carried to {self.g.op(self.n)} '{key}' do not fit it")
        self.inits[key] = np.ascontiguousarray(self.weights[key], dtype=np.float32)
        return key

    def const(self, suffix: str, value: Any, dtype: Any = np.float32) -> str:
        """A small constant initializer named `<scope>.<suffix>`."""
        name = self.fresh(f"{self.scope}.{suffix}")
        self.inits[name] = np.asarray(value, dtype=dtype)
        return name

    def need(self, opset: int, what: str) -> None:
        """Refuse, at this node's source line, when the target opset is older than `opset`."""
        if self.opset < opset:
            raise InceptExportError(
                f"ONNX opset {self.opset} cannot express {what}; it needs opset {opset} or newer",
                self.g.span(self.n),
                hint=f"export with --opset {max(opset, DEFAULT_OPSET)}",
            )
