"""The language server, driven over stdio by a real LSP client, on googlenet.incept."""

from __future__ import annotations

import pytest

pytest.importorskip("pytest_lsp", reason="the server tests need the lsp extra and pytest-lsp")
from lsprotocol import types  # noqa: E402
from pytest_lsp import LanguageClient  # noqa: E402

from lsp.steps import GOOGLENET, open_doc, position_of, replace  # noqa: E402

pytestmark = pytest.mark.asyncio

TEXT = GOOGLENET.read_text()


def _doc(uri: str) -> types.TextDocumentIdentifier:
    return types.TextDocumentIdentifier(uri)


async def _hover(client: LanguageClient, uri: str, needle: str, shift: int = 1) -> str:
    pos = position_of(TEXT, needle, shift)
    result = await client.text_document_hover_async(types.HoverParams(_doc(uri), pos))
    assert result is not None, needle
    assert isinstance(result.contents, types.MarkupContent)
    return result.contents.value


async def test_a_correct_file_has_no_diagnostics(client: LanguageClient):
    uri = await open_doc(client, GOOGLENET)
    assert list(client.diagnostics[uri]) == []


async def test_hover_on_a_block_application_shows_its_shape_and_costs(client: LanguageClient):
    uri = await open_doc(client, GOOGLENET)
    text = await _hover(client, uri, "inception(64, 96")
    assert "block inception(c1, c3r, c3, c5r, c5, pp)" in text
    assert "Figure 2(b)" in text  # the comment above the definition
    assert "256×28×28" in text
    assert "163,696" in text  # inception 3a: the summary's parameter count for that scope


async def test_hover_on_an_op_shows_its_arguments_and_defaults(client: LanguageClient):
    uri = await open_doc(client, GOOGLENET)
    text = await _hover(client, uri, "conv(64, 7, stride = 2)")
    assert "conv(out, kernel, stride = 1, padding = same" in text
    assert "64×112×112" in text
    assert "9,472" in text  # 64·3·7·7 + 64


async def test_hover_on_names(client: LanguageClient):
    uri = await open_doc(client, GOOGLENET)
    assert "192×28×28" in await _hover(client, uri, "stem = image")
    assert "3×224×224" in await _hover(client, uri, "image: 3x224x224")
    assert "inputs** image 3×224×224" in await _hover(client, uri, "googlenet(classes")
    kw = await _hover(client, uri, "stride = 2)", 0)
    assert "`stride`" in kw and "default `1`" in kw


async def _references(
    client: LanguageClient, uri: str, pos: types.Position, include_declaration: bool
) -> list[types.Location] | None:
    return await client.text_document_references_async(
        types.ReferenceParams(
            context=types.ReferenceContext(include_declaration=include_declaration),
            text_document=_doc(uri),
            position=pos,
        )
    )


async def test_definition_and_references(client: LanguageClient):
    uri = await open_doc(client, GOOGLENET)
    use = position_of(TEXT, "inception(64, 96", 2)
    defs = await client.text_document_definition_async(types.DefinitionParams(_doc(uri), use))
    assert isinstance(defs, list) and len(defs) == 1
    assert defs[0].range.start == position_of(TEXT, "inception(c1")
    stem = position_of(TEXT, "stem = image", 1)
    refs = await _references(client, uri, stem, include_declaration=True)
    assert refs is not None
    starts = [r.range.start for r in refs]
    assert starts == [
        position_of(TEXT, "stem = image"),
        position_of(TEXT, "stem\n        -> incep"),
    ]


async def test_completion_after_an_arrow(client: LanguageClient):
    uri = await open_doc(client, GOOGLENET)
    pos = position_of(TEXT, "-> maxpool(3, stride = 2)\n        -> inception(192", 3)
    result = await client.text_document_completion_async(types.CompletionParams(_doc(uri), pos))
    items = result.items if isinstance(result, types.CompletionList) else result or []
    labels = {i.label for i in items}
    assert {"conv", "maxpool", "inception", "aux_head", "stem", "i3"} <= labels


async def test_completion_of_keyword_arguments(client: LanguageClient):
    uri = await open_doc(client, GOOGLENET)
    pos = position_of(TEXT, "conv(64, 7, stride = 2)", len("conv(64, 7, "))
    result = await client.text_document_completion_async(types.CompletionParams(_doc(uri), pos))
    items = result.items if isinstance(result, types.CompletionList) else result or []
    by_label = {i.label: i for i in items}
    assert by_label["stride"].detail == "= 1"
    assert by_label["padding"].detail == "= same"
    assert "maxpool" not in by_label


async def test_document_symbols(client: LanguageClient):
    uri = await open_doc(client, GOOGLENET)
    result = await client.text_document_document_symbol_async(types.DocumentSymbolParams(_doc(uri)))
    assert result is not None
    names = [s.name for s in result]
    assert names[:4] == ["inception", "aux_head", "googlenet", names[3]]
    model = next(s for s in result if s.name == "googlenet" and isinstance(s, types.DocumentSymbol))
    children = [c.name for c in model.children or []]
    assert children[:4] == ["classes", "image", "stem", "i3"] and "logits" in children


async def test_formatting_a_canonical_file_changes_nothing(client: LanguageClient):
    uri = await open_doc(client, GOOGLENET, "model m{input x:3x8x8\noutput y=x->conv(4,3)}\n")
    result = await client.text_document_formatting_async(
        types.DocumentFormattingParams(_doc(uri), types.FormattingOptions(4, True))
    )
    assert result is not None and len(result) == 1
    assert "output y = x -> conv(4, 3)" in result[0].new_text


async def test_semantic_tokens(client: LanguageClient):
    uri = await open_doc(client, GOOGLENET)
    result = await client.text_document_semantic_tokens_full_async(
        types.SemanticTokensParams(_doc(uri))
    )
    assert result is not None and len(result.data) % 5 == 0 and len(result.data) > 500


async def test_completion_in_a_join_and_in_a_half_typed_line(client: LanguageClient, tmp_path):
    good = (
        "model m {\n    input x: 3x8x8\n    a = x -> conv(4, 3)\n    b = x -> conv(4, 1)\n"
        "    output y = concat(a, b)\n}\n"
    )
    uri = await open_doc(client, tmp_path / "m.incept", good)
    pos = position_of(good, "concat(a", len("concat("))
    result = await client.text_document_completion_async(types.CompletionParams(_doc(uri), pos))
    items = result.items if isinstance(result, types.CompletionList) else result or []
    assert [i.label for i in items] == ["x", "a", "b"]
    half = good.replace("output y = concat(a, b)", "c = a -> ")
    await replace(client, uri, half, 2)
    assert client.diagnostics[uri]  # the half-typed line is a syntax error ...
    pos = position_of(half, "c = a -> ", len("c = a -> "))
    result = await client.text_document_completion_async(types.CompletionParams(_doc(uri), pos))
    items = result.items if isinstance(result, types.CompletionList) else result or []
    assert {"conv", "a", "b"} <= {i.label for i in items}  # ... and names still come


async def test_hover_in_a_block_body_tells_of_its_first_application(client: LanguageClient):
    uri = await open_doc(client, GOOGLENET)
    text = await _hover(client, uri, "conv(c3, 3)")
    assert "first application" in text and "inception_3a.branch_2" in text
    assert "128×28×28" in text  # c3 = 128 in inception_3a


async def test_references_of_a_block(client: LanguageClient):
    uri = await open_doc(client, GOOGLENET)
    pos = position_of(TEXT, "inception(c1", 1)
    refs = await _references(client, uri, pos, include_declaration=False)
    assert refs is not None
    assert len(refs) == TEXT.count("-> inception(") == 9  # 3a, 3b, 4a-4e, 5a, 5b
    assert all(r.uri == uri for r in refs)
