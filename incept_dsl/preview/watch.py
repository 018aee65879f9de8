"""File changes -> new versions of the workspace, announced to every open page.

`watch_program` watches the folders of the program's files (the main file and every file it
imports; editors that save by writing a new file and renaming it replace the file a per-file
watch would follow), keeps only changes to those files, makes a new workspace version for each
batch (`watchfiles` groups the writes of one save, `DEBOUNCE_MS`) and publishes it on `Changes`.
When a save adds or drops an import, the set of watched folders is made again.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool

from incept_dsl.preview.workspace import Workspace

#: Milliseconds `watchfiles` waits for more writes before reporting a save (one save, one event).
DEBOUNCE_MS = 150
#: Milliseconds between two looks for changes.
STEP_MS = 30


class Changes:
    """The latest version, and a way to wait for a later one (one per open page)."""

    def __init__(self, version: int = 0) -> None:
        self.version = version
        self._changed = asyncio.Condition()

    async def publish(self, version: int) -> None:
        """Announce `version` to every waiting page."""
        async with self._changed:
            self.version = version
            self._changed.notify_all()

    async def after(self, seen: int, timeout: float) -> int:
        """The version once it is past `seen`, or the current one after `timeout` seconds."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(lambda: self.version > seen), timeout)
            return self.version


def _only(files: frozenset[Path]) -> Callable[[Any, str], bool]:
    """A `watchfiles` filter that keeps the changes to `files`."""
    return lambda _change, path: Path(path) in files


async def _files(ws: Workspace) -> frozenset[Path]:
    snap = await run_in_threadpool(ws.snapshot)
    return frozenset(snap.files)


async def watch_program(ws: Workspace, changes: Changes, stop: asyncio.Event) -> None:
    """Publish a new version on `changes` after each save of one of the program's files, until
    `stop` is set (see the module docstring). When the system's file events fail (no inotify
    watches left, a network file system), it says so on stderr and polls instead."""
    polling = False
    while not stop.is_set():
        try:
            await _watch_once(ws, changes, stop, polling)
        except Exception as err:  # noqa: BLE001 - the preview keeps serving; it says why
            if polling:
                raise
            print(
                f"incept-dsl preview: file events failed ({type(err).__name__}: {err}); "
                "polling the files instead",
                file=sys.stderr,
            )
            polling = True


async def _watch_once(ws: Workspace, changes: Changes, stop: asyncio.Event, polling: bool) -> None:
    """Watch the program's current files until a save changes the set of files (or `stop`)."""
    from watchfiles import awatch

    files = await _files(ws)
    folders = sorted({f.parent for f in files if f.parent.is_dir()})
    if not folders:  # the file's folder is gone: look again later
        await asyncio.sleep(0.5)
        return
    async for _batch in awatch(
        *folders,
        watch_filter=_only(files),
        debounce=DEBOUNCE_MS,
        step=STEP_MS,
        stop_event=stop,
        recursive=False,
        force_polling=polling or None,
        poll_delay_ms=200,
    ):
        await changes.publish(ws.bump())
        if await _files(ws) != files:
            return  # an import was added or dropped: watch the new set of folders
