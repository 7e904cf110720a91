"""Tokens and gaps -> output lines: the canonical layout (docs/formatting.md states it).

The author's line structure is kept and everything within a line is normalised:

- one item per line at the top level; inside a body, the lines the author wrote, with
  statements the author joined by `;` still joined (`bn; relu`);
- a body written on one line stays on one line (`branch { conv 1x1 -> 64 }`); a body
  that spans lines opens after `{` and closes with `}` on a line of its own;
- two spaces of indentation per open body (and per parenthesis broken over lines);
- at most one blank line in a row, none at the start or end of a body or of the file;
- comments where they were, own-line comments indented with the code around them.
"""

from __future__ import annotations

from dataclasses import dataclass

from inceptgen.fmt.lexing import Comment, Gap, Token
from inceptgen.fmt.lines import Line
from inceptgen.fmt.spacing import is_unary_minus, space_before

__all__ = ["layout"]

_OPENERS = {"{": "}", "(": ")", "[": "]"}
_CLOSERS = frozenset(_OPENERS.values())


@dataclass
class _Frame:
    """An open bracket; `indents` when its content is on lines of its own."""

    bracket: str
    indents: bool


def layout(toks: list[Token], gaps: list[Gap]) -> list[Line]:
    """The output lines for a parsed spec's tokens (see `inceptgen.fmt.lexing.tokens`)."""
    return _Printer(toks, gaps).run()


def _multiline_bodies(toks: list[Token], gaps: list[Gap]) -> set[int]:
    """Indices of the `{` tokens whose body holds a line break (at any depth)."""
    stack: list[int] = []
    multiline: set[int] = set()
    for i, tok in enumerate(toks):
        if gaps[i].breaks_line:
            # Every body still open contains this break; those below a marked one are marked already.
            for opener in reversed(stack):
                if opener in multiline:
                    break
                multiline.add(opener)
        if tok.text == "{":
            stack.append(i)
        elif tok.text == "}":
            stack.pop()
    return multiline


class _Printer:
    def __init__(self, toks: list[Token], gaps: list[Gap]) -> None:
        self.toks = toks
        self.gaps = gaps
        self.multiline = _multiline_bodies(toks, gaps)
        self.lines: list[Line] = []
        self.line: Line | None = None  # the line being written; None at the start of a line
        self.stack: list[_Frame] = []
        self.blank = False  # a blank line is due before the next line
        self.force_break = False  # the next token starts a line (after a multi-line body's `{` or `}`)
        self.prev_unary = False

    def run(self) -> list[Line]:
        for i in range(len(self.toks)):
            self.gap(i)
            self.token(i)
        self.gap(len(self.toks))
        self.end_line()
        return self.lines

    # lines ----------------------------------------------------------------------------
    def level(self) -> int:
        return sum(frame.indents for frame in self.stack)

    def start_line(self, first: str) -> Line:
        previous = self.lines[-1] if self.lines else None
        opening = previous is not None and previous.code.endswith(tuple(_OPENERS))
        if self.blank and previous is not None and not opening and first not in _CLOSERS:
            self.lines.append(Line(0))
        self.blank = False
        self.line = Line(self.level())
        return self.line

    def end_line(self) -> None:
        if self.line is not None:
            self.lines.append(self.line)
        self.line = None
        self.force_break = False

    def write(self, text: str, space: bool) -> None:
        if self.line is None:
            self.start_line(text).code = text
        else:
            self.line.code += (" " if space else "") + text

    # gaps -----------------------------------------------------------------------------
    def gap(self, i: int) -> None:
        """What separates token i-1 from token i: comments, line breaks, `;`."""
        gap = self.gaps[i]
        frame = self.stack[-1] if self.stack else None
        in_parens = frame is not None and frame.bracket != "{"
        trailing = gap.trailing
        if trailing is not None and self.line is not None:
            self.line.comment = trailing
        if gap.breaks_line:
            self.end_line()
            if in_parens:
                frame.indents = True  # type: ignore[union-attr]
            self.own_lines(gap, trailing, allow_blank=not in_parens)
        elif gap.has_semicolon and 0 < i < len(self.toks):
            self.separator(self.toks[i - 1], self.toks[i], frame)

    def own_lines(self, gap: Gap, trailing: Comment | None, allow_blank: bool) -> None:
        """Own-line comments, and whether a blank line comes next."""
        breaks = -1  # line breaks since the last line ended: the first one ends it
        for event in gap.events:
            if event is trailing:
                continue
            if event == "\n":
                breaks += 1
            elif isinstance(event, Comment):
                self.blank = self.blank or (allow_blank and breaks > 0)
                self.start_line("#").comment = event
                self.end_line()
                breaks = -1
        self.blank = self.blank or (allow_blank and breaks > 0)

    def separator(self, prev: Token, nxt: Token, frame: _Frame | None) -> None:
        """A `;` between two tokens of one line."""
        if frame is None:
            self.end_line()  # top level: one item per line
        elif frame.bracket == "{" and prev.text not in ("{", "}") and nxt.text != "}":
            self.line.code += ";"  # type: ignore[union-attr]
        # Otherwise the `;` separates nothing: inside parentheses, at the start or end of a
        # body, or after a statement that ends in `}` (which needs no separator).

    # tokens ---------------------------------------------------------------------------
    def token(self, i: int) -> None:
        tok = self.toks[i]
        prev = self.toks[i - 1] if i else None
        if tok.text in _CLOSERS:
            self.close(tok, prev, self.toks[i + 1] if i + 1 < len(self.toks) else None)
        else:
            if self.force_break:
                self.end_line()
            self.write(tok.text, prev is not None and space_before(prev, tok, self.prev_unary))
            if tok.text in _OPENERS:
                multiline = tok.text == "{" and i in self.multiline
                self.stack.append(_Frame(tok.text, multiline))
                self.force_break = multiline
        self.prev_unary = is_unary_minus(prev, tok)

    def close(self, tok: Token, prev: Token | None, nxt: Token | None) -> None:
        frame = self.stack.pop()
        multiline_body = frame.bracket == "{" and frame.indents
        if multiline_body:
            self.end_line()
        self.write(tok.text, prev is not None and space_before(prev, tok, self.prev_unary))
        # After a multi-line body the next statement starts a line; `} else {` stays together.
        self.force_break = multiline_body and (nxt is None or nxt.text != "else")
