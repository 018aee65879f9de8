"""Small performance helpers shared by the front end and elaboration."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block (re-entrant).

    Parsing and elaboration allocate many small objects that all stay alive; the collector's
    repeated full passes over them made a 10,000-op program take twice as long (and grew
    super-linearly). Reference counting still frees everything as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


#: Elaboration, the formatter and the other tree walkers recurse with a program's nesting, which
#: the limits bound (200 brackets, 100 block applications, 200 operators): about 3,000 frames at
#: worst. The API (`incept_dsl.api`), `fmt` and elaboration raise the limit to this.
RECURSION_LIMIT = 20_000


def ensure_recursion_limit(limit: int = RECURSION_LIMIT) -> None:
    """Raise Python's recursion limit to `limit` if it is lower (never lowers it)."""
    if sys.getrecursionlimit() < limit:
        sys.setrecursionlimit(limit)


def busy_machine(threads: int) -> str | None:
    """A warning when the machine is busy for a benchmark of `threads` threads: the load average
    of the last minute exceeds the thread count (other work is running, and the timings will be
    slower and noisier than on a quiet machine; with a load of 4 on two cores a network ran four
    times slower). None on a quiet machine, and where the load average is unknown."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not every platform has it
        return None
    if load <= threads:
        return None
    return (
        f"warning: the machine is busy (load average {load:.1f} over the last minute, more than "
        f"the {threads} thread{'s' if threads != 1 else ''} this benchmark uses): the timings "
        "will be slower and noisier than on a quiet machine"
    )
