"""The program a preview watches: its files, its models and one render per version.

`Workspace(path, model)` reads the program at `path` when asked (`snapshot`), after each change
`bump` makes a new version; renders are cached per (version, view), so every page asking for the
same view after a save shares one render. The last good model names and block names are kept
while the file does not load, so the page's selectors stay usable while an error is shown.
Everything here is synchronous and thread-safe (one lock): the app calls it from a thread pool.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from incept_dsl.errors import InceptError, UsageError
from incept_dsl.preview.choices import View

#: Renders kept (per version and view); older ones are dropped first.
CACHE_SIZE = 32


@dataclass
class Snapshot:
    """The program at one version: `models` (names, in source order), `files` (the main file and
    every file it imports, resolved; those read before a failure when it fails), `error` (the
    rendered `InceptError` or `UsageError` text, or None)."""

    version: int
    models: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    error: str | None = None


def error_text(err: Exception) -> str:
    """The message of a program error with its location, source line and caret."""
    return err.render() if isinstance(err, InceptError) else f"error: {err}"


def read_program(path: Path, version: int) -> Snapshot:
    """The `Snapshot` of the program at `path` (it never raises for a bad program)."""
    from incept_dsl.frontend.loader import Loader

    loader = Loader()
    snap = Snapshot(version, files=[path.resolve()])
    seen: list[Path] = []
    try:
        unit = loader.load_path(path)
        snap.models = [m.name for m in unit.program.models]
    except (InceptError, UsageError) as err:
        snap.error = error_text(err)
        seen = _error_files(err)
    except RecursionError:
        snap.error = "error: the program nests too deep to read"
    seen = [*loader.units, *(p for p, _ in loader.stack), *seen]
    snap.files += [p for p in seen if p not in snap.files]
    return snap


def _error_files(err: Exception) -> list[Path]:
    """The files an error points into (a file that does not parse is in no loader table yet)."""
    errors = getattr(err, "errors", None) or [err]
    spans = [
        s
        for e in errors
        for s in [getattr(e, "span", None), *(n.span for n in getattr(e, "notes", []))]
    ]
    return [s.source.path.resolve() for s in spans if s is not None and s.source.path is not None]


class Workspace:
    """The watched program (see the module docstring)."""

    def __init__(self, path: Path, model: str | None = None) -> None:
        self.path = path
        self.default_model = model or ""
        self.version = 0
        self._lock = threading.RLock()
        self._snapshot: Snapshot | None = None
        self._models: list[str] = []
        self._files: list[Path] = []
        self._blocks: dict[str, list[str]] = {}
        self._cache: OrderedDict[tuple[int, str, View], Any] = OrderedDict()

    def bump(self) -> int:
        """Start a new version (the files changed); the new version number."""
        with self._lock:
            self.version += 1
            self._snapshot = None
            return self.version

    def snapshot(self) -> Snapshot:
        """The program at the current version (read once per version)."""
        with self._lock:
            if self._snapshot is None or self._snapshot.version != self.version:
                snap = read_program(self.path, self.version)
                if snap.error is None:
                    self._files = list(snap.files)
                else:  # keep watching the files of the last good version: a fix comes there
                    snap.files += [f for f in self._files if f not in snap.files]
                if snap.models:
                    self._models = list(snap.models)
                self._snapshot = snap
            return self._snapshot

    def models(self) -> list[str]:
        """The model names of the last version that loaded (the current one when it did)."""
        with self._lock:
            self.snapshot()
            return list(self._models)

    def model_name(self, asked: str) -> str:
        """The model a view draws: `asked`, else `--model`, else the file's first model."""
        models = self.models()
        for name in (asked, self.default_model):
            if name and name in models:
                return name
        return models[0] if models else self.default_model

    def blocks(self, model: str) -> list[str]:
        """The block names and instance scopes of `model` as last drawn (for the selector)."""
        with self._lock:
            return list(self._blocks.get(model, []))

    def set_blocks(self, model: str, names: list[str]) -> None:
        with self._lock:
            self._blocks[model] = list(names)

    def cached(self, kind: str, view: View, make: Any) -> Any:
        """`make()` for (`kind`, `view`) at the current version, computed once per version."""
        with self._lock:
            key = (self.version, kind, view)
            if key not in self._cache:
                self._cache[key] = make()
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
            self._cache.move_to_end(key)
            return self._cache[key]
