"""Small performance helpers shared by the front end and elaboration."""

from __future__ import annotations

import gc
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
