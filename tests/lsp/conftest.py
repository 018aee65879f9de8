"""A real `incept-dsl lsp` server, started over stdio for each test, and a pytest-lsp client
speaking to it with Neovim's capabilities (so pytest-lsp also checks every answer against them).
Without the `lsp` extra the server tests skip (each says so); the command's own tests still run."""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("pytest_lsp") and importlib.util.find_spec("pygls"):
    import pytest_lsp
    from lsprotocol import types
    from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

    from lsp.steps import SERVER

    @pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
    async def client(lsp_client: LanguageClient):
        params = types.InitializeParams(capabilities=client_capabilities("neovim"))
        await lsp_client.initialize_session(params)
        yield
        await lsp_client.shutdown_session()
