"""The spec's token stream with its comments: what the formatter prints from.

The parser drops comments (they live inside the grammar's `_NL` separator tokens, or are
ignored at the very end of a file). Here the source is lexed again by the parser's own
cached Lark parser, through its interactive interface, so every token has the type the
parser gave it in its context (`head` is a keyword at the top level and a name inside a
body); each `_NL` token is then taken apart into the comments, line breaks and `;` it holds.
The grammar itself is not touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lark import Tree

from inceptgen.parse import _parser

__all__ = ["Comment", "Gap", "Lexed", "Token", "tokens"]


@dataclass(frozen=True)
class Token:
    """A significant token: its type as the parser saw it, and its text."""

    type: str
    text: str


@dataclass(frozen=True)
class Comment:
    """A `# ...` comment: its text (trailing blanks removed), 0-based source column, and whether
    it shares its line with the token before it."""

    text: str
    column: int
    trailing: bool


@dataclass
class Gap:
    """What lies between two significant tokens, in order: comments, line breaks ("\\n") and ";"."""

    events: list[Comment | str] = field(default_factory=list)

    @property
    def breaks_line(self) -> bool:
        return any(e == "\n" or isinstance(e, Comment) for e in self.events)

    @property
    def has_semicolon(self) -> bool:
        return ";" in self.events

    @property
    def trailing(self) -> Comment | None:
        """The comment on the line of the token before the gap (`conv 1x1 -> 8; # why`), if any."""
        return next((e for e in self.events if isinstance(e, Comment) and e.trailing), None)


#: One piece of an `_NL` token: blanks, an optional comment, then a line break or ';' (the
#: grammar's own pattern, one repetition at a time).
_PIECE = re.compile(r"[ \t\f]*(#[^\r\n]*)?(\r?\n|;)")
_TAIL_COMMENT = re.compile(r"[ \t\f]*(#[^\r\n]*)")


@dataclass(frozen=True)
class Lexed:
    """A spec's significant tokens, the gaps around them (`len(gaps) == len(tokens) + 1`: `gaps[i]`
    comes before `tokens[i]`, the last one after the last token) and the parser's tree of it."""

    tokens: list[Token]
    gaps: list[Gap]
    tree: Tree


def tokens(text: str) -> Lexed:
    """Lex and parse `text`, keeping what the parser drops.

    `text` must parse (call `inceptgen.parse.parse` first: it raises the user's error).
    """
    toks: list[Token] = []
    gaps: list[Gap] = [Gap()]
    last = None
    interactive = _parser().parse_interactive(text)
    for tok in interactive.iter_parse():
        if tok.type == "_NL":
            _split_separator(str(tok), tok.start_pos, text, gaps[-1], at_line_start=not toks)
        else:
            toks.append(Token(tok.type, str(tok)))
            gaps.append(Gap())
        last = tok
    _tail(text, last.end_pos if last is not None else 0, gaps[-1], at_line_start=not toks)
    return Lexed(toks, gaps, interactive.feed_eof(last))


def _column(text: str, offset: int) -> int:
    return offset - (text.rfind("\n", 0, offset) + 1)


def _split_separator(value: str, start: int, text: str, gap: Gap, at_line_start: bool) -> None:
    """Append the comments, line breaks and ';' of one `_NL` token to `gap`."""
    seen_break = at_line_start or "\n" in gap.events
    pos = 0
    while (match := _PIECE.match(value, pos)) is not None:
        if match.group(1):
            where = start + match.start(1)
            gap.events.append(Comment(match.group(1).rstrip(), _column(text, where), not seen_break))
        gap.events.append("\n" if match.group(2) != ";" else ";")
        seen_break = seen_break or match.group(2) != ";"
        pos = match.end()


def _tail(text: str, end: int, gap: Gap, at_line_start: bool) -> None:
    """A comment after the last token with no line break after it (the grammar ignores it)."""
    match = _TAIL_COMMENT.match(text, end)
    if match is None:
        return
    seen_break = at_line_start or "\n" in gap.events
    gap.events.append(Comment(match.group(1).rstrip(), _column(text, match.start(1)), not seen_break))
