"""Small steps the LSP tests share: open a buffer, change it, wait for its diagnostics."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

PUBLISH = types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS
ROOT = Path(__file__).resolve().parents[2]
GOOGLENET = ROOT / "architectures" / "googlenet.incept"
#: the real server, started over stdio
SERVER = [sys.executable, "-m", "incept_dsl", "lsp"]


def uri_of(path: Path) -> str:
    return path.resolve().as_uri()


async def open_doc(client: LanguageClient, path: Path, text: str | None = None) -> str:
    """Open `path` (with `text`, unsaved, when given) and wait for its first diagnostics."""
    uri = uri_of(path)
    body = path.read_text() if text is None else text
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "incept", 1, body))
    )
    await client.wait_for_notification(PUBLISH)
    return uri


async def replace(client: LanguageClient, uri: str, text: str, version: int) -> None:
    """Replace the whole buffer with `text` and wait for the new diagnostics."""
    change = types.TextDocumentContentChangeWholeDocument(text=text)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=uri, version=version), [change]
        )
    )
    await client.wait_for_notification(PUBLISH)


async def wait_until(
    client: LanguageClient, done: Callable[[], bool], timeout: float = 60.0
) -> None:
    """Wait for diagnostics until `done()` holds. Waiting for a count of notifications races:
    two that come together resolve the first wait, and the second wait, made after both, never
    ends. `done()` is checked before each wait, and each wait gives up after a second, so a
    notification handled before its wait was made is seen on the next check."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"no diagnostics made the condition hold in {timeout:.0f} s")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(client.wait_for_notification(PUBLISH), 1.0)


def position_of(text: str, needle: str, shift: int = 0) -> types.Position:
    """The LSP position of the first `needle` in `text`, `shift` characters in."""
    offset = text.index(needle) + shift
    line = text.count("\n", 0, offset)
    return types.Position(line, offset - (text.rfind("\n", 0, offset) + 1))
