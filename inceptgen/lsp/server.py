"""`inceptgen lsp`: the language server (pygls) over standard input and output.

Each open document is checked in-process as `inceptgen check` checks a file
(`analysis.analyse`: parse, lower, check; never Python evaluation, never a framework).
Diagnostics are published when a document opens or is saved, and a short while after the
last of a run of edits (so a burst of keystrokes costs one check, not one per keystroke);
hover, completion, definition, symbols and formatting read the analysis of the document's
current text, made on demand when the edits have outrun the debounce.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument

from inceptgen import __version__
from inceptgen.errors import InceptgenError
from inceptgen.lsp.analysis import ERROR, Analysis, Diagnostic, analyse, normalise
from inceptgen.lsp.completion import complete
from inceptgen.lsp.hover import hover
from inceptgen.lsp.positions import Positions
from inceptgen.lsp.symbols import definition, document_symbols, file_uri, name_range

__all__ = ["DEBOUNCE_S", "InceptLanguageServer", "build_server", "serve"]

#: Seconds without an edit before a changed document is checked and its diagnostics published.
DEBOUNCE_S = 0.15


class InceptLanguageServer(LanguageServer):
    """A pygls server that keeps, per open document, its latest analysis and the latest that lowered."""

    def __init__(self) -> None:
        super().__init__("inceptgen", __version__, text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental)
        self.latest: dict[str, Analysis] = {}
        self.known: dict[str, Analysis] = {}  # for navigation while the text does not parse
        self.pending: dict[str, asyncio.TimerHandle] = {}

    def document(self, uri: str) -> TextDocument:
        return self.workspace.get_text_document(uri)

    def analysis(self, uri: str) -> Analysis:
        """The analysis of the document's current text (cached until the text changes)."""
        doc = self.document(uri)
        text = normalise(doc.source)
        cached = self.latest.get(uri)
        if cached is not None and cached.text == text:
            return cached
        result = analyse(text, doc.path or "<untitled>")
        self.latest[uri] = result
        if result.model is not None:
            self.known[uri] = result
        return result

    def navigation(self, uri: str) -> Analysis:
        """The current analysis where it lowered, else the latest one that did."""
        current = self.analysis(uri)
        return current if current.model is not None else self.known.get(uri, current)

    def positions(self, analysis: Analysis) -> Positions:
        return Positions(analysis.text, self.workspace.position_codec)

    def publish(self, uri: str) -> None:
        """Check the document now and send its diagnostics."""
        self.cancel(uri)
        if uri not in self.workspace.text_documents:
            return
        analysis = self.analysis(uri)
        positions = self.positions(analysis)
        diagnostics = [_diagnostic(d, positions) for d in analysis.diagnostics]
        params = lsp.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=self.document(uri).version)
        self.text_document_publish_diagnostics(params)

    def publish_later(self, uri: str) -> None:
        self.cancel(uri)
        self.pending[uri] = asyncio.get_running_loop().call_later(DEBOUNCE_S, self.publish, uri)

    def cancel(self, uri: str) -> None:
        handle = self.pending.pop(uri, None)
        if handle is not None:
            handle.cancel()

    def forget(self, uri: str) -> None:
        self.cancel(uri)
        self.latest.pop(uri, None)
        self.known.pop(uri, None)


def _diagnostic(diagnostic: Diagnostic, positions: Positions) -> lsp.Diagnostic:
    severity = lsp.DiagnosticSeverity.Error if diagnostic.severity == ERROR else lsp.DiagnosticSeverity.Warning
    message = diagnostic.message + (f"\nhint: {diagnostic.hint}" if diagnostic.hint else "")
    return lsp.Diagnostic(positions.range(diagnostic.span), message, severity=severity, source="inceptgen")


def build_server() -> InceptLanguageServer:
    """A server with every feature registered (each call a new one)."""
    server = InceptLanguageServer()
    _register_sync(server)
    _register_queries(server)
    return server


def _register_sync(server: InceptLanguageServer) -> None:
    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: lsp.DidOpenTextDocumentParams) -> None:
        server.publish(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: lsp.DidChangeTextDocumentParams) -> None:
        server.publish_later(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(params: lsp.DidSaveTextDocumentParams) -> None:
        # A saved file may be imported by the other open documents: check them all again.
        server.latest.clear()
        for uri in list(server.workspace.text_documents):
            server.publish(uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: lsp.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        server.forget(uri)
        server.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


def _register_queries(server: InceptLanguageServer) -> None:
    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def on_hover(params: lsp.HoverParams) -> lsp.Hover | None:
        analysis = server.analysis(params.text_document.uri)
        positions = server.positions(analysis)
        line, column = positions.from_client(params.position)
        return hover(analysis, positions, line, column)

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=["(", ",", ":"]))
    def on_completion(params: lsp.CompletionParams) -> lsp.CompletionList:
        uri = params.text_document.uri
        current = server.analysis(uri)
        positions = server.positions(current)
        line, column = positions.from_client(params.position)
        offset = sum(len(text) + 1 for text in positions.lines[: line - 1]) + column - 1
        items = complete(current.text, offset, line, server.navigation(uri))
        return lsp.CompletionList(is_incomplete=False, items=items)

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    def on_definition(params: lsp.DefinitionParams) -> lsp.Location | None:
        uri = params.text_document.uri
        current = server.analysis(uri)
        word = server.positions(current).word_at(*server.positions(current).from_client(params.position))
        found = definition(server.navigation(uri), word) if word else None
        if found is None:
            return None
        file, span = found
        positions = server.positions(current) if file == current.file else _file_positions(server, file)
        return lsp.Location(file_uri(file), name_range(positions, span, word) or positions.range(span))  # type: ignore[arg-type]

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def on_symbols(params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
        uri = params.text_document.uri
        current = server.analysis(uri)
        source = current if current.module is not None else server.known.get(uri)
        if source is None or source.module is None:
            return []
        return document_symbols(source.module, server.positions(source))

    @server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
    def on_formatting(params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit]:
        from inceptgen.fmt import format_text

        current = server.analysis(params.text_document.uri)
        try:
            result = format_text(current.text, current.file)
        except InceptgenError:
            return []  # the diagnostics already say why
        if result == server.document(params.text_document.uri).source:
            return []
        positions = server.positions(current)
        whole = lsp.Range(lsp.Position(0, 0), positions.to_client(len(positions.lines), len(positions.lines[-1]) + 1))
        return [lsp.TextEdit(whole, result)]


def _file_positions(server: InceptLanguageServer, file: str) -> Positions:
    """Positions in another spec file (an import): its open document's text, else the file's."""
    for doc in server.workspace.text_documents.values():
        if doc.path and Path(doc.path).resolve() == Path(file).resolve():
            return Positions(normalise(doc.source), server.workspace.position_codec)
    try:
        text = Path(file).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    return Positions(normalise(text), server.workspace.position_codec)


def serve() -> None:
    """Run a server over standard input and output until the client says exit."""
    logging.basicConfig(level=logging.WARNING, format="inceptgen lsp: %(levelname)s: %(message)s")
    build_server().start_io()
