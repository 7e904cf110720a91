"""Spans (1-based lines and columns in characters) <-> LSP positions (0-based, in the client's units).

LSP counts columns in UTF-16 code units unless the client agreed on another encoding;
pygls' position codec converts, given the document's lines as the parser counted them
(split at "\\n" only: the text is normalised first, see `analysis.normalise`).
"""

from __future__ import annotations

import re

from lsprotocol import types as lsp
from pygls.workspace.position_codec import PositionCodec, ServerTextPosition

from inceptgen.errors import Span

__all__ = ["Positions"]

_WORD = re.compile(r"\w+")


class Positions:
    """Conversions for one version of one document."""

    def __init__(self, text: str, codec: PositionCodec | None = None) -> None:
        self.lines = text.split("\n")
        self.codec = codec or PositionCodec()

    def to_client(self, line: int, column: int) -> lsp.Position:
        """1-based (line, column) in characters -> an LSP position (clamped to the text)."""
        row = min(max(line - 1, 0), len(self.lines) - 1)
        character = min(max(column - 1, 0), len(self.lines[row]))
        return self.codec.position_to_client_units(self.lines, ServerTextPosition(row, character))

    def from_client(self, position: lsp.Position) -> tuple[int, int]:
        """An LSP position -> 1-based (line, column) in characters."""
        if position.line >= len(self.lines):
            return len(self.lines), len(self.lines[-1]) + 1
        server = self.codec.position_from_client_units(self.lines, position)
        return server.line + 1, min(server.character, len(self.lines[server.line])) + 1

    def range(self, span: Span | None) -> lsp.Range:
        """The range of a span; one without an end covers the word (or character) it starts at."""
        if span is None:
            return lsp.Range(self.to_client(1, 1), self.to_client(1, 1))
        end_line, end_column = span.end_line, span.end_column
        if end_line is None or end_column is None:
            end_line, end_column = span.line, self._word_end(span.line, span.column)
        return lsp.Range(self.to_client(span.line, span.column), self.to_client(end_line, end_column))

    def _word_end(self, line: int, column: int) -> int:
        if not 1 <= line <= len(self.lines):
            return column
        text = self.lines[line - 1]
        word = _WORD.match(text, column - 1)
        if word is not None:
            return word.end() + 1
        return column + 1 if column - 1 < len(text) else column

    def word_at(self, line: int, column: int) -> str | None:
        """The identifier at (line, column) (1-based), if the position is on one."""
        if not 1 <= line <= len(self.lines):
            return None
        text = self.lines[line - 1]
        for match in _WORD.finditer(text):
            if match.start() <= column - 1 <= match.end() and not match.group().isdigit():
                return match.group()
        return None
