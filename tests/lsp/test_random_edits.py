"""Random edits of googlenet.incept, typed into one live server: every request still gets an
answer, no handler logs an exception, and the server's diagnostics follow each version."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytest.importorskip("pytest_lsp", reason="the server tests need the lsp extra and pytest-lsp")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from lsprotocol import types  # noqa: E402
from pytest_lsp import ClientServerConfig, client_capabilities  # noqa: E402

from lsp.steps import GOOGLENET, PUBLISH, SERVER, uri_of  # noqa: E402

TEXT = GOOGLENET.read_text()
#: what a person types into an .incept file, and the characters that break it
ALPHABET = "abcxyz_0123456789 \n\t(){}[]->=,.:#\"'x*+/%"


class Session:
    """One server and one buffer, kept across hypothesis examples."""

    def __init__(self, tmp: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = self.run(ClientServerConfig(server_command=SERVER).start())
        caps = client_capabilities("neovim")
        self.run(self.client.initialize_session(types.InitializeParams(capabilities=caps)))
        self.uri = uri_of(tmp / "googlenet.incept")
        self.text = TEXT
        self.version = 1
        item = types.TextDocumentItem(self.uri, "incept", 1, TEXT)
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(item))
        self.run(self.client.wait_for_notification(PUBLISH))

    def run(self, coro):
        return self.loop.run_until_complete(asyncio.wait_for(coro, 60))

    def position(self, offset: int) -> types.Position:
        line = self.text.count("\n", 0, offset)
        return types.Position(line, offset - (self.text.rfind("\n", 0, offset) + 1))

    def edit(self, start: int, length: int, insert: str) -> None:
        """Replace `length` characters at `start` with `insert` (an incremental change)."""
        end = min(len(self.text), start + length)
        rng = types.Range(self.position(start), self.position(end))
        self.text = self.text[:start] + insert + self.text[end:]
        self.version += 1
        change = types.TextDocumentContentChangePartial(range=rng, text=insert)
        ident = types.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version)
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(ident, [change]))
        self.run(self.client.wait_for_notification(PUBLISH))

    def close(self) -> None:
        self.run(self.client.shutdown_session())
        self.run(self.client.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    s = Session(tmp_path_factory.mktemp("edits"))
    yield s
    s.close()


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(TEXT)), st.integers(0, 6), st.text(ALPHABET, max_size=6)),
        min_size=1,
        max_size=4,
    ),
    probe=st.integers(0, len(TEXT)),
)
def test_random_edits_never_crash_the_server(session, edits, probe):
    for start, length, insert in edits:
        session.edit(min(start, len(session.text)), length, insert)
    doc = types.TextDocumentIdentifier(session.uri)
    pos = session.position(min(probe, len(session.text)))
    c = session.client
    session.run(c.text_document_hover_async(types.HoverParams(doc, pos)))
    session.run(c.text_document_completion_async(types.CompletionParams(doc, pos)))
    session.run(c.text_document_definition_async(types.DefinitionParams(doc, pos)))
    session.run(c.text_document_document_symbol_async(types.DocumentSymbolParams(doc)))
    session.run(c.text_document_semantic_tokens_full_async(types.SemanticTokensParams(doc)))
    errors = [m.message for m in c.log_messages if m.type == types.MessageType.Error]
    assert errors == []
    assert c.error is None
    session.edit(0, len(session.text), TEXT)  # back to the file for the next example
    assert list(c.diagnostics[session.uri]) == []
