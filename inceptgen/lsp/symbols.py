"""Document symbols (the outline) and go-to-definition, from the syntax tree."""

from __future__ import annotations

import re
from pathlib import Path

from lsprotocol import types as lsp

from inceptgen import syntax as sx
from inceptgen.errors import Span
from inceptgen.lsp.analysis import Analysis
from inceptgen.lsp.positions import Positions

__all__ = ["definition", "document_symbols", "file_uri", "name_range"]

_KINDS: dict[type, lsp.SymbolKind] = {
    sx.ModelDecl: lsp.SymbolKind.Class,
    sx.Variant: lsp.SymbolKind.Constant,
    sx.BlockDef: lsp.SymbolKind.Function,
    sx.Stage: lsp.SymbolKind.Module,
    sx.Head: lsp.SymbolKind.Module,
    sx.Aux: lsp.SymbolKind.Module,
}


def document_symbols(module: sx.Module, positions: Positions) -> list[lsp.DocumentSymbol]:
    """The model, its variants, blocks, stages, head and aux heads, in file order."""
    symbols = []
    for item in module.items:
        kind = _KINDS.get(type(item))
        if kind is None:
            continue
        name = "head" if isinstance(item, sx.Head) else item.name  # type: ignore[union-attr]
        whole = positions.range(item.span)
        symbols.append(
            lsp.DocumentSymbol(
                name=name,
                kind=kind,
                range=whole,
                selection_range=name_range(positions, item.span, name) or whole,
                detail=type(item).__name__.lower().replace("decl", "").replace("blockdef", "block"),
            )
        )
    return symbols


def name_range(positions: Positions, span: Span, name: str) -> lsp.Range | None:
    """Where `name` is written on the first line of `span` (after its keyword)."""
    if not 1 <= span.line <= len(positions.lines):
        return None
    text = positions.lines[span.line - 1]
    keyword = re.compile(r"\s*\w+").match(text, span.column - 1)  # `block`, `stage`, ...: not the name
    after = keyword.end() if keyword and keyword.group().strip() != name else span.column - 1
    found = re.compile(rf"(?<!\w){re.escape(name)}(?!\w)").search(text, after)
    if found is None:
        return None
    start = found.start()
    one_line = span.end_line == span.line and span.end_column is not None
    if one_line and start + 1 + len(name) > span.end_column:  # type: ignore[operator]
        return None
    return lsp.Range(positions.to_client(span.line, start + 1), positions.to_client(span.line, start + 1 + len(name)))


def definition(analysis: Analysis, word: str) -> tuple[str, Span] | None:
    """(file, span) of the block or stage named `word`: blocks across imports, stages of this file."""
    blocks = analysis.model.blocks if analysis.model is not None else {}
    if word in blocks:
        span = blocks[word].span
        return span.file, span
    for item in analysis.module.items if analysis.module is not None else ():
        if isinstance(item, sx.Stage) and item.name == word:
            return item.span.file, item.span
    return None


def file_uri(file: str) -> str:
    """The URI of a spec file named by a span."""
    return Path(file).resolve().as_uri()
