"""The limits of elaboration (docs/language.md, "Limits"). Each one is a located error when a
program passes it, so that every program ends in a graph or an error within bounded time and
memory — never a hang, a `MemoryError` or an internal error.
"""

from __future__ import annotations

#: Largest `repeat` count.
MAX_REPEAT = 10_000
#: Most IR nodes one model may elaborate to (the largest shipped architecture has 823;
#: elaboration takes roughly 10-50 µs per node, so even a blow-up stops within seconds).
MAX_NODES = 100_000
#: Most elaboration steps for one model. A step is one element applied (an op, a block, a join,
#: an `expect`, a group, each copy of a `repeat`), one element checked without shapes, or one
#: node of an argument expression evaluated. Bodies that add no nodes (`identity`, `expect`,
#: groups) escape `MAX_NODES`; this bounds them too. The shipped architectures take at most
#: about 1,300 steps (tests/ir/test_limits.py keeps them under 1% of the limit), ordinary
#: programs about 2 per node, so a model at the node limit still fits; a step costs 5-20 µs, so
#: a program that reaches the limit fails within seconds.
MAX_WORK = 250_000
#: Most channels (or features) of one tensor: a typo such as conv(10**12) is caught before
#: anything could try to allocate it.
MAX_CHANNELS = 1 << 20
#: Most elements of one tensor, per sample (2**31: 8 GiB of float32 for one image).
MAX_TENSOR_ELEMENTS = 1 << 31
#: Most trainable parameters of one layer (2**32: 16 GiB of float32).
MAX_LAYER_PARAMS = 1 << 32
#: Deepest chain of block applications (a block applying a block applying ...).
MAX_BLOCK_DEPTH = 100
