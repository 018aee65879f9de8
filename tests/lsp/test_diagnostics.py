"""Diagnostics as you type: errors appear with their range and help, several at once, and are
cleared once an edit fixes them; imports of an unsaved buffer resolve relative to its file."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytest_lsp", reason="the server tests need the lsp extra and pytest-lsp")
from lsprotocol import types  # noqa: E402
from pytest_lsp import LanguageClient  # noqa: E402

from lsp.steps import open_doc, replace, wait_until  # noqa: E402

pytestmark = pytest.mark.asyncio

GOOD = "model m {\n    input x: 3x32x32\n    output y = x -> conv(8, 3) -> flatten\n}\n"


async def test_an_error_appears_then_clears_after_a_fix(client: LanguageClient, tmp_path: Path):
    path = tmp_path / "m.incept"
    path.write_text(GOOD)
    broken = GOOD.replace("conv(8, 3)", "conv(8, 3, strde = 2)")
    uri = await open_doc(client, path, broken)
    (diag,) = client.diagnostics[uri]
    assert diag.range.start.line == 2
    assert "strde" in diag.message and "help:" in diag.message and "stride" in diag.message
    assert diag.severity == types.DiagnosticSeverity.Error
    await replace(client, uri, GOOD, 2)
    assert list(client.diagnostics[uri]) == []


async def test_several_errors_at_once(client: LanguageClient, tmp_path: Path):
    text = (
        "model a {\n    input x: 3x8x8\n    output y = x -> conv(4, 3, strde = 1)\n}\n"
        "model b {\n    input x: 3x8x8\n    output y = x -> conv(4, 9, padding = valid)\n}\n"
    )
    uri = await open_doc(client, tmp_path / "two.incept", text)
    lines = sorted(d.range.start.line for d in client.diagnostics[uri])
    assert lines == [2, 6]


async def test_a_half_typed_line_is_a_syntax_error_not_a_crash(
    client: LanguageClient, tmp_path: Path
):
    path = tmp_path / "m.incept"
    uri = await open_doc(client, path, GOOD.replace("-> flatten", "-> conv(8,"))
    (diag,) = client.diagnostics[uri]
    assert diag.code == "InceptSyntaxError"
    hover = await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(2, 20))
    )
    assert hover is None  # nothing to say, but an answer
    await replace(client, uri, GOOD, 2)
    assert list(client.diagnostics[uri]) == []


async def test_imports_resolve_relative_to_the_file(client: LanguageClient, tmp_path: Path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "blocks.incept").write_text("block unit(c) = conv(c, 3) -> bn -> relu\n")
    text = 'import "lib/blocks.incept"\nmodel m {\n    input x: 3x8x8\n    output y = x -> unit(4)\n}\n'
    uri = await open_doc(client, tmp_path / "m.incept", text)
    assert list(client.diagnostics[uri]) == []
    pos = types.Position(3, 22)
    defs = await client.text_document_definition_async(
        types.DefinitionParams(types.TextDocumentIdentifier(uri), pos)
    )
    assert isinstance(defs, list) and defs[0].uri.endswith("lib/blocks.incept")
    imp = await client.text_document_definition_async(
        types.DefinitionParams(types.TextDocumentIdentifier(uri), types.Position(0, 10))
    )
    assert isinstance(imp, list) and imp[0].uri == defs[0].uri
    await replace(client, uri, text.replace("lib/blocks", "lib/missing"), 2)
    (diag,) = client.diagnostics[uri]
    assert diag.range.start.line == 0 and "missing" in diag.message


async def test_an_error_in_an_imported_block_points_at_its_application(
    client: LanguageClient, tmp_path: Path
):
    (tmp_path / "blocks.incept").write_text("block big(c) = conv(c, 9, padding = valid)\n")
    text = 'import "blocks.incept"\nmodel m {\n    input x: 3x4x4\n    output y = x -> big(4)\n}\n'
    uri = await open_doc(client, tmp_path / "m.incept", text)
    (diag,) = client.diagnostics[uri]
    assert diag.range.start.line == 3
    assert "blocks.incept:1:" in diag.message
    assert diag.related_information


async def test_saving_an_imported_file_checks_its_importers_again(
    client: LanguageClient, tmp_path: Path
):
    lib = tmp_path / "blocks.incept"
    lib.write_text("block unit(c) = conv(c, 3)\n")
    text = 'import "blocks.incept"\nmodel m {\n    input x: 3x8x8\n    output y = x -> unit(4)\n}\n'
    uri = await open_doc(client, tmp_path / "m.incept", text)
    lib_uri = await open_doc(client, lib)
    assert list(client.diagnostics[uri]) == []
    lib.write_text("block unit(c) = conv(c, 3, strde = 1)\n")
    client.text_document_did_save(
        types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(lib_uri))
    )
    await wait_until(
        client, lambda: bool(client.diagnostics[uri])
    )  # the lib's, then the importer's
    (diag,) = client.diagnostics[uri]
    assert diag.range.start.line == 3 and "strde" in diag.message


async def test_an_empty_file_is_reported_as_check_does(client: LanguageClient, tmp_path: Path):
    uri = await open_doc(client, tmp_path / "e.incept", "# nothing yet\n")
    (diag,) = client.diagnostics[uri]
    assert "empty" in diag.message and "help: add `model" in diag.message
