"""The language server for `.incept` files (`inceptgen lsp`; needs the `editor` extra: pygls).

`analysis` checks a document with the front end (no pygls there); `positions` converts
spans to LSP ranges; `hover`, `completion` and `symbols` answer the queries; `server`
wires them into pygls. Nothing here imports torch, tensorflow or keras, or evaluates the
user's text as Python.
"""
