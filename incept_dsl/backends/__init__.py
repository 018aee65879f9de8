"""Backends: pure functions of (IR graph, weights, options), one sub-package per target.

`torch/` (generated module source and modules), `onnx/` (ModelProto), `figure/` (DOT, and SVG, PDF,
PNG through Graphviz), `summary/` (cost tables); `to_json.py` (the IR). What they share: `pytext`
(text that reaches generated code), `init_numpy` (fresh weights), `state_arrays` (state_dicts
as numpy), `cpu_features`, `fresh_names` (names not used yet). None runs a pass or reads the
command line: `incept_dsl.driver` lowers the model first.
"""
