"""Elaboration's small state types: the scopes that name nodes, the context an element is applied
in, the signals that stop or skip work, and the key under which a failed block application is
remembered."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from incept_dsl.errors import InceptError, InceptNameError, Note
from incept_dsl.frontend.loader import BlockTable
from incept_dsl.source import Span


class Scope:
    """A level of the hierarchical names. Counts unnamed children per kind; refuses duplicates."""

    def __init__(self, path: tuple[str, ...]) -> None:
        self.path = path
        self.counters: dict[str, int] = {}
        self.taken: dict[str, Span | None] = {}

    def name(self, base: str, explicit: str | None, span: Span | None) -> str:
        """Claim a child name: `explicit` if given (an error if taken), else `<base>_<k>`."""
        if explicit is not None:
            if explicit in self.taken:
                err = InceptNameError(f"the name '{explicit}' is already used in this scope", span)
                if self.taken[explicit] is not None:
                    err.notes.append(Note("first used here", self.taken[explicit]))
                raise err
            self.taken[explicit] = span
            return explicit
        k = self.counters.get(base, 0)
        while True:
            k += 1
            candidate = f"{base}_{k}"
            if candidate not in self.taken:
                break
        self.counters[base] = k
        self.taken[candidate] = span
        return candidate

    def full(self, child: str) -> str:
        return ".".join((*self.path, child))

    def child(self, child: str) -> Scope:
        return Scope((*self.path, child))


class Ctx:
    """Where an element is applied: parameter values, visible blocks, scope, block call stack,
    and `dims`: the names in `env` that are dimensions of the block's input (`in_channels`, ...;
    LANGUAGE.md section 8), which expressions read but which never name an op or a block.

    Never changed once made (a plain class with slots: elaboration makes one per scope)."""

    __slots__ = ("blocks", "dims", "env", "scope", "stack")

    def __init__(
        self,
        env: Mapping[str, Any],
        blocks: BlockTable,
        scope: Scope,
        stack: tuple[tuple[tuple[str, int], str, Span], ...] = (),
        dims: frozenset[str] = frozenset(),
    ) -> None:
        self.env = env
        self.blocks = blocks
        self.scope = scope
        self.stack = stack
        self.dims = dims

    def at(self, scope: Scope) -> Ctx:
        """The same context in another scope."""
        return Ctx(self.env, self.blocks, scope, self.stack, self.dims)

    def is_param(self, target: str) -> bool:
        """Whether the element name `target` is a parameter here, whose value then says which op
        or block the element applies: a name of `env` that is not one of the input's
        dimensions (a block or op named `in_channels` stays reachable inside a block body)."""
        return target in self.env and target not in self.dims


class Abort(Exception):
    """A limit of the whole model was passed (`MAX_WORK`, `MAX_NODES`): elaboration stops.

    Not an `InceptError`, so no error recovery catches it; every place that collects errors adds
    its own to `errors` on the way out, and `build` reports them all with the limit's error.
    """

    def __init__(self, error: InceptError) -> None:
        super().__init__(error.message)
        self.errors: list[InceptError] = [error]


class Poisoned(Exception):
    """A statement reads a tensor whose own statement failed: skipped without a second report."""


@dataclass
class Copying:
    """A `repeat` being elaborated: its count, where the count is written, the copy it is at,
    and the work and node counters when that copy began."""

    n: int
    span: Span
    index: int = 0
    copy_start: int = 0
    copy_nodes: int = 0


def _freeze(value: Any) -> Any:
    """A hashable key for a parameter value that tells `1`, `1.0` and `true` apart (they compare
    equal in Python, but not in the language); raises TypeError for an unhashable value."""
    if isinstance(value, tuple):
        return ("tuple", tuple(_freeze(v) for v in value))
    hash(value)
    return (type(value).__name__, value)


def failure_key(
    block: tuple[str, int], args: list[Any], shape: tuple[int, ...], depth: int
) -> tuple | None:
    """What decides whether a block application fails (for one model): the block, its
    arguments, its input shape and the depth of blocks around it. None when an argument cannot
    be a key (a value from the API that is not hashable): such applications are not memoised."""
    try:
        return (block, tuple(_freeze(a) for a in args), shape, depth)
    except TypeError:
        return None
