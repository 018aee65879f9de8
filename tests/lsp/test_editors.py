"""The editor files in `editors/`: valid JSON/TOML, a TextMate grammar whose regexes compile (in
Python's `re`, as far as they are Oniguruma-compatible: they use no Oniguruma-only syntax) and
highlight every built-in op, and client settings that start `incept-dsl lsp`."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from incept_dsl.frontend.signatures import surface_op_names

EDITORS = Path(__file__).resolve().parents[2] / "editors"
VSCODE = EDITORS / "vscode"
GRAMMAR = json.loads((VSCODE / "syntaxes" / "incept.tmLanguage.json").read_text())


def _rules(node, out=None):
    """Every rule (a dict with `match`, `begin` or `end`) of the grammar."""
    out = [] if out is None else out
    if isinstance(node, dict):
        if any(k in node for k in ("match", "begin", "end")):
            out.append(node)
        for v in node.values():
            _rules(v, out)
    elif isinstance(node, list):
        for v in node:
            _rules(v, out)
    return out


RULES = _rules(GRAMMAR)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.get("name", r.get("match", ""))[:40])
def test_every_regex_compiles(rule):
    for key in ("match", "begin", "end"):
        if key in rule:
            re.compile(rule[key])


def _scope_of(word: str) -> str | None:
    for rule in RULES:
        if "name" in rule and re.fullmatch(rule["match"], word):
            return rule["name"]
    return None


def test_every_op_is_highlighted_as_an_op():
    op_rule = GRAMMAR["repository"]["op"]
    for name in surface_op_names():
        assert re.fullmatch(op_rule["match"], name), name
    assert not re.search(op_rule["match"], "inception convolution my_conv")


def test_words_get_their_scopes():
    assert _scope_of("residual") == "keyword.control.incept"
    assert _scope_of("3x224x224") == "constant.numeric.shape.incept"
    assert _scope_of("# a comment") == "comment.line.number-sign.incept"
    line = "    stem = image -> conv(64, 7, stride = 2)"
    binding = re.search(GRAMMAR["repository"]["binding"]["match"], line)
    assert binding is not None and binding.group(1) == "stem"
    kw = re.search(GRAMMAR["repository"]["keyword-argument"]["match"], line)
    assert kw is not None and kw.group(1) == "stride"


def test_the_vscode_extension_is_wired_up():
    pkg = json.loads((VSCODE / "package.json").read_text())
    assert (VSCODE / pkg["main"]).is_file()
    (lang,) = pkg["contributes"]["languages"]
    assert lang["extensions"] == [".incept"] and (VSCODE / lang["configuration"]).is_file()
    json.loads((VSCODE / lang["configuration"]).read_text())
    (grammar,) = pkg["contributes"]["grammars"]
    assert grammar["scopeName"] == GRAMMAR["scopeName"]
    assert (VSCODE / grammar["path"]).is_file()
    props = pkg["contributes"]["configuration"]["properties"]
    assert props["incept.server.command"]["default"] == "incept-dsl"
    assert props["incept.server.args"]["default"] == ["lsp"]
    assert "vscode-languageclient" in pkg["dependencies"]
    assert "onLanguage:incept" in pkg["activationEvents"]
    js = (VSCODE / "extension.js").read_text()
    assert "vscode-languageclient/node" in js and "server.command" in js


def test_neovim_and_helix_start_the_server():
    helix = tomllib.loads((EDITORS / "helix" / "languages.toml").read_text())
    server = helix["language-server"]["incept-dsl"]
    assert [server["command"], *server["args"]] == ["incept-dsl", "lsp"]
    assert helix["language"][0]["file-types"] == ["incept"]
    lua = (EDITORS / "neovim" / "incept.lua").read_text()
    assert 'cmd = { "incept-dsl", "lsp" }' in lua and "vim.lsp.start" in lua
