"""Fresh names: one rule for every backend that must not reuse a name (tensors and nodes in ONNX,
functions, generated classes, attributes and locals in the PyTorch source)."""

from __future__ import annotations

from collections.abc import Container


def first_free(base: str, taken: Container[str], sep: str = "_") -> str:
    """`base` when it is not in `taken`, else the first of `base{sep}2`, `base{sep}3`, ... that is
    not (`taken` is left as it is: the caller records the name it uses)."""
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}{sep}{k}"
    return name
