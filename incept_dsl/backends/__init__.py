"""Backends: pure functions of the IR (torch, onnx, dot, summary, json). They never mutate it."""
