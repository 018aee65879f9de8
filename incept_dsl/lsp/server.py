"""The pygls language server: documents, their cached analyses, and one handler per feature.

Every buffer is compiled once per version (`Documents`); diagnostics are published on open,
change and save, and cleared on close. Every handler is wrapped: an exception is logged (to the
client's log and stderr) and the request answers "nothing", so the server never goes down on a
half-typed program.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from incept_dsl import __version__
from incept_dsl.errors import InceptError
from incept_dsl.fmt import format_text
from incept_dsl.lsp.analysis import Analysis, analyze
from incept_dsl.lsp.completion import complete
from incept_dsl.lsp.diagnostics import diagnostics
from incept_dsl.lsp.hover import hover_text
from incept_dsl.lsp.navigation import definition, document_symbols, references
from incept_dsl.lsp.positions import offset_at, offsets_range, span_range
from incept_dsl.lsp.tokens import TOKEN_MODIFIERS, TOKEN_TYPES, semantic_tokens
from incept_dsl.lsp.uris import uri_path

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


class Documents:
    """The analysis of each open buffer, per version, and the last one that parsed."""

    def __init__(self) -> None:
        self.current: dict[str, Analysis] = {}
        self.parsed: dict[str, Analysis] = {}

    def get(self, uri: str, text: str, version: int | None) -> Analysis:
        """The analysis of `text` (compiled once per version and text)."""
        a = self.current.get(uri)
        if a is None or a.version != version or a.source.text != text:
            a = analyze(text, uri_path(uri), version)
            self.current[uri] = a
            if a.program is not None:
                self.parsed[uri] = a
        return a

    def for_names(self, uri: str, a: Analysis) -> Analysis:
        """`a` if it parsed, else the last analysis of `uri` that did (for names to offer)."""
        return a if a.program is not None else self.parsed.get(uri, a)

    def close(self, uri: str) -> None:
        self.current.pop(uri, None)
        self.parsed.pop(uri, None)


def guarded(default: Any = None) -> Callable[[F], F]:
    """A handler that logs any exception and answers `default` instead of failing."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(ls: InceptServer, params: Any) -> Any:
            try:
                return fn(ls, params)
            except Exception as exc:  # noqa: BLE001 - never crash on a buffer
                log.exception("%s failed", fn.__name__)
                ls.window_log_message(
                    types.LogMessageParams(
                        types.MessageType.Error, f"incept-dsl: {fn.__name__}: {exc!r}"
                    )
                )
                return default

        return inner  # type: ignore[return-value]

    return wrap


class InceptServer(LanguageServer):
    """The incept-dsl language server."""

    def __init__(self) -> None:
        super().__init__("incept-dsl", __version__)
        self.docs = Documents()

    def analysis(self, uri: str) -> Analysis:
        doc = self.workspace.get_text_document(uri)
        return self.docs.get(uri, doc.source, doc.version)

    def publish(self, uri: str) -> None:
        a = self.analysis(uri)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, version=a.version, diagnostics=diagnostics(a))
        )


LEGEND = types.SemanticTokensLegend(token_types=TOKEN_TYPES, token_modifiers=TOKEN_MODIFIERS)


def create_server() -> InceptServer:
    """A server with every feature registered (not started)."""
    server = InceptServer()
    _register_sync(server)
    _register_queries(server)
    _register_edits(server)
    return server


def _register_sync(server: InceptServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    @guarded()
    def did_open(ls: InceptServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.publish(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    @guarded()
    def did_change(ls: InceptServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.publish(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    @guarded()
    def did_save(ls: InceptServer, params: types.DidSaveTextDocumentParams) -> None:
        # the saved file may be imported by the other open buffers: check them all again
        for uri in list(ls.workspace.text_documents):
            ls.docs.current.pop(uri, None)
            ls.publish(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    @guarded()
    def did_close(ls: InceptServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.docs.close(uri)
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, []))


def _register_queries(server: InceptServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_HOVER)
    @guarded()
    def hover(ls: InceptServer, params: types.HoverParams) -> types.Hover | None:
        a = ls.analysis(params.text_document.uri)
        found = hover_text(a, offset_at(a.source, params.position))
        if found is None:
            return None
        text, span = found
        content = types.MarkupContent(types.MarkupKind.Markdown, text)
        return types.Hover(content, span_range(span) if a.is_own(span) else None)

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=[">", "(", ",", "="]),
    )
    @guarded()
    def completion(ls: InceptServer, params: types.CompletionParams) -> types.CompletionList:
        uri = params.text_document.uri
        a = ls.analysis(uri)
        items = complete(
            ls.docs.for_names(uri, a), a.source.text, offset_at(a.source, params.position)
        )
        return types.CompletionList(is_incomplete=False, items=items)

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    @guarded()
    def goto(ls: InceptServer, params: types.DefinitionParams) -> list[types.Location]:
        uri = params.text_document.uri
        a = ls.analysis(uri)
        return definition(a, uri, offset_at(a.source, params.position))

    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    @guarded()
    def refs(ls: InceptServer, params: types.ReferenceParams) -> list[types.Location]:
        uri = params.text_document.uri
        a = ls.analysis(uri)
        offset = offset_at(a.source, params.position)
        return references(a, uri, offset, params.context.include_declaration)

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    @guarded()
    def symbols(ls: InceptServer, params: types.DocumentSymbolParams) -> list:
        a = ls.analysis(params.text_document.uri)
        return document_symbols(ls.docs.for_names(params.text_document.uri, a))

    @server.feature(types.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL, LEGEND)
    @guarded()
    def tokens(ls: InceptServer, params: types.SemanticTokensParams) -> types.SemanticTokens:
        doc = ls.workspace.get_text_document(params.text_document.uri)
        return types.SemanticTokens(data=semantic_tokens(doc.source))


def _register_edits(server: InceptServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    @guarded()
    def formatting(ls: InceptServer, params: types.DocumentFormattingParams) -> list | None:
        """The whole buffer in canonical form (`incept-dsl fmt`); nothing when it does not parse."""
        a = ls.analysis(params.text_document.uri)
        try:
            new = format_text(a.source.text, a.source.name)
        except InceptError:
            return None
        if new == a.source.text:
            return []
        return [types.TextEdit(offsets_range(a.source, 0, len(a.source.text)), new)]


def serve() -> None:
    """Run the server on stdin/stdout until the client says exit."""
    logging.basicConfig(level=logging.WARNING, format="incept-dsl lsp: %(message)s")
    create_server().start_io()
