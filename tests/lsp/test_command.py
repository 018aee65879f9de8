"""`incept-dsl lsp` without pygls: a usage error (exit 2) that says how to install it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from incept_dsl.cli import main


@pytest.mark.parametrize("missing", ["pygls", "lsprotocol"])
def test_without_pygls_it_says_how_to_install(monkeypatch, capsys, missing):
    monkeypatch.setitem(sys.modules, missing, None)  # importing it now raises ModuleNotFoundError
    assert main(["lsp"]) == 2
    err = capsys.readouterr().err
    assert "pip install incept-dsl[lsp]" in err and missing in err
    assert "Traceback" not in err


def test_the_command_module_does_not_import_pygls():
    code = (
        "import sys, incept_dsl.cli, incept_dsl.commands.lsp\n"
        "print(sorted(m for m in sys.modules if m.startswith(('pygls', 'incept_dsl.lsp'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
