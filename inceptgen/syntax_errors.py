"""Syntax errors as a user reads them: what was found, what was expected, and where.

Lark reports an unexpected token with the terminals it would have accepted. This module
turns that into one message with a position and a hint: token names in words, a misspelt
option that takes a value (`strid 2`), a kernel written as a bare name, a `}` missing in
the middle of a file (naming the body left open), a block named like a keyword.
"""

from __future__ import annotations

import difflib
import re

from lark import Lark
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from inceptgen.errors import Span, SpecNameError, SpecSyntaxError
from inceptgen.names import KEYWORDS
from inceptgen.ops import ACTIVATIONS, OPS, valued_options

__all__ = ["syntax_error"]


_TOKEN_NAMES = {
    "_NL": "end of line",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "SIZE": "a size like 3x3",
    "STRING": "a quoted string",
    "OPTION_KEY": "an option",
    "__ANON_0": "'->'",
}


def _word(name: str, parser: Lark) -> str:
    if name in _TOKEN_NAMES:
        return _TOKEN_NAMES[name]
    if name == "$END":
        return "end of file"
    try:
        pattern = parser.get_terminal(name).pattern
    except KeyError:
        return name.lower().strip("_")
    # Keywords and punctuation ('branch', '//', '+') are shown as written.
    return repr(pattern.value) if isinstance(pattern, PatternStr) else name.lower().strip("_")


def _describe(names: set[str], parser: Lark) -> str:
    words = sorted({_word(n, parser) for n in names})
    return ", ".join(words[:8]) + (" ..." if len(words) > 8 else "")


def _end_span(text: str, file: str) -> Span:
    """Just after the last non-blank character: where a missing '}' or ')' belongs."""
    lines = text.rstrip().split("\n")
    return Span(file, len(lines), len(lines[-1]) + 1)


#: A name directly before the unexpected token, not part of a longer word.
_NAME_BEFORE = re.compile(r"(?<!\w)([^\W\d]\w*)[ \t\f]*\Z")


def _unknown_valued_option(exc: UnexpectedToken, text: str, file: str) -> SpecNameError | SpecSyntaxError | None:
    """`conv 3x3 -> 8 strid 2`: a misspelt option that takes a value.

    `strid` is read as a flag and `2` is then unexpected; report the option, not the number.
    Only in the state right after a flag (options expected, but no `(`, `.` or operator,
    which would mean the name was part of an expression).
    """
    expected = set(exc.expected)
    if "OPTION_KEY" not in expected or expected & {"LPAR", "DOT", "STAR", "PLUS"}:
        return None
    arrow = str(exc.token) == "->"  # `conv k -> 8`: a name where a literal kernel belongs
    if exc.token.type not in ("INT", "FLOAT", "SIZE", "STRING", "MINUS", "LPAR") and not arrow:
        return None
    start = exc.token.start_pos
    found = _NAME_BEFORE.search(text, 0, start) if start is not None else None
    if found is None:
        return None
    name = found.group(1)
    line = text.count("\n", 0, found.start(1)) + 1
    column = found.start(1) - (text.rfind("\n", 0, found.start(1)) + 1) + 1
    span = Span(file, line, column, line, column + len(name))
    if arrow:
        return SpecSyntaxError(
            f"unexpected '->' after {name!r}: a kernel written as a name must be an option",
            span,
            f"write `conv -> channels kernel {name}` (a rate: `dropout rate {name}`)",
        )
    # `conv 1x1 -> 8 conv 3x3 -> 8`: two statements on one line (`relu` is also a flag: not that case).
    if name in OPS and name not in ACTIVATIONS:
        message = f"{name!r} starts a new layer, but the previous one has not ended"
        return SpecSyntaxError(message, span, "put a ';' or a line break before it")
    keys = valued_options()
    close = difflib.get_close_matches(name, keys, n=2, cutoff=0.7)
    hint = (
        f"did you mean {' or '.join(repr(c) for c in close)}?" if close else f"options with a value: {', '.join(keys)}"
    )
    return SpecNameError(f"{name!r} is not an option that takes a value (got {str(exc.token)!r} after it)", span, hint)


#: Words that start a top-level item: one at the start of a line inside a body means a '}' is missing.
_TOP_LEVEL = re.compile(r"[ \t\f]*(stage|head|block|aux|model|variant|import|defaults)\b")


def _open_braces(text: str, end: int) -> list[int]:
    """Offsets of the '{' still open at offset `end` (comments and strings skipped)."""
    stack: list[int] = []
    for match in re.finditer(r'#[^\n]*|"[^"\n]*"|[{}]', text[:end]):
        if match.group() == "{":
            stack.append(match.start())
        elif match.group() == "}" and stack:
            stack.pop()
    return stack


def _unclosed(text: str, where: int, span: Span, at: str) -> SpecSyntaxError | None:
    """A '}' missing before offset `where`: name the body left open, by its opening line."""
    stack = _open_braces(text, where)
    if not stack:
        return None
    start = stack[-1]
    line = text.count("\n", 0, start) + 1
    owner = text[text.rfind("\n", 0, start) + 1 : start].split("#")[0].strip() or "a body"
    return SpecSyntaxError(
        f"{at}: the '{{' of `{owner}` (line {line}) is never closed",
        span,
        "add the missing '}' at the end of that body",
    )


def syntax_error(exc: UnexpectedInput, text: str, file: str, parser: Lark) -> SpecSyntaxError | SpecNameError:
    """The user's error for what Lark raised: the token expected in words, a misspelt option, a body left open."""
    line, column = exc.line, exc.column
    eof = isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    if isinstance(exc, UnexpectedEOF) or eof or line is None or line < 1:
        end = _end_span(text, file)
        unclosed = _unclosed(text, len(text), end, "unexpected end of file")
        return unclosed or SpecSyntaxError("unexpected end of file", end, "is a '}' or ')' missing?")
    span = Span(file, line, column)
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        option = _unknown_valued_option(exc, text, file)
        if option is not None:
            return option
        line_start = text.rfind("\n", 0, token.start_pos or 0) + 1
        keyword = _TOP_LEVEL.match(text, line_start)
        if token.type == "LBRACE" and keyword:
            at = Span(file, line, keyword.start(1) - line_start + 1)
            unclosed = _unclosed(text, line_start, at, f"`{keyword.group(1)}` inside a body")
            if unclosed is not None:
                return unclosed
        got = "end of line" if token.type == "_NL" else repr(str(token))
        before = _NAME_BEFORE.search(text, 0, token.start_pos or 0) if token.type == "LPAR" else None
        if before is not None and before.group(1) in KEYWORDS:  # `shortcut()`: a block named as a keyword
            word = before.group(1)
            return SpecSyntaxError(
                f"unexpected '(' after {word!r}: {word!r} is a word of the language, not a block",
                span,
                f"name the block {word}_",
            )
        return SpecSyntaxError(f"unexpected {got}", span, f"expected {_describe(set(exc.expected), parser)}")
    assert isinstance(exc, UnexpectedCharacters)
    char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
    expected = _describe(set(exc.allowed or ()), parser)
    return SpecSyntaxError(f"unexpected character {char!r}", span, f"expected {expected}")
