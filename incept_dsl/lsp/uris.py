"""Document URIs <-> file paths, and the URI of a span's file."""

from __future__ import annotations

from pathlib import Path

from pygls import uris

from incept_dsl.source import Span


def uri_path(uri: str) -> Path | None:
    """The file a `file:` URI names; None for other schemes (an untitled buffer)."""
    path = uris.to_fs_path(uri)
    return Path(path) if path and uri.startswith("file:") else None


def file_uri(path: Path | str) -> str:
    return uris.from_fs_path(str(path)) or ""


def path_uri(span: Span) -> str:
    """The URI of the file a span lies in (its source's path, else its name)."""
    src = span.source
    return file_uri(src.path if src.path is not None else src.name)
