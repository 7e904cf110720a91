"""`inceptgen fmt`: the canonical layout of `.incept` specs, comments kept.

`format_text(text)` re-lexes a spec with the parser's own lexer, comments included
(`lexing`), lays the tokens out again (`layout`, `spacing`), writes the lines (`lines`)
and checks that the parser reads the same tree back: only blanks, line breaks and `;`
separators ever change. `equivalence` compares specs without their positions (the tests
use it on syntax trees and IR). docs/formatting.md describes the style.
"""

from __future__ import annotations

from lark.exceptions import LarkError

from inceptgen.fmt.equivalence import without_positions
from inceptgen.fmt.layout import layout
from inceptgen.fmt.lexing import tokens
from inceptgen.fmt.lines import render
from inceptgen.limits import Limits
from inceptgen.parse import _parser, parse

__all__ = ["FormatterError", "format_text", "without_positions"]


class FormatterError(Exception):
    """The formatted text would not be the same spec: a bug in the formatter, never written out."""


def format_text(text: str, file: str = "<spec>", limits: Limits = Limits()) -> str:
    """`text` in the canonical layout.

    Raises:
        InceptgenError: the text is not a spec the parser accepts (the error `check` reports).
        FormatterError: the result would parse differently (nothing should ever raise this).
    """
    parse(text, file, limits)  # every check of the front end, and the user's error if any
    lexed = tokens(text)
    result = render(layout(lexed.tokens, lexed.gaps))
    # The parser's tree ignores positions and separators: equal trees are the same spec.
    try:
        after = _parser().parse(result)
    except LarkError as exc:
        raise FormatterError(f"{file}: the formatted text does not parse: {exc}") from None
    if after != lexed.tree:
        raise FormatterError(f"{file}: the formatted text is a different spec")
    return result
