// The VS Code client of `inceptgen lsp`: starts the server over stdio for .incept files.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("inceptgen");
  const command = config.get("server.command", "inceptgen");
  const args = config.get("server.args", ["lsp"]);
  // TransportKind.stdio adds `--stdio`, which `inceptgen lsp` accepts.
  const serverOptions = { command, args, transport: TransportKind.stdio };
  const clientOptions = {
    documentSelector: [
      { scheme: "file", language: "incept" },
      { scheme: "untitled", language: "incept" },
    ],
  };
  client = new LanguageClient("inceptgen", "inceptgen language server", serverOptions, clientOptions);
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
