// Starts `incept-dsl lsp` (LSP over stdio) for .incept files.
// The command and its arguments come from the `incept.server.*` settings.
"use strict";

const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("incept");
  const server = {
    command: config.get("server.command", "incept-dsl"),
    args: config.get("server.args", ["lsp"]),
  };
  client = new LanguageClient(
    "incept",
    "Incept language server",
    { run: server, debug: server },
    { documentSelector: [{ language: "incept" }] }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
