"""`inceptgen fmt`: the canonical layout of `.incept` specs, comments kept.

`format_text(text)` re-lexes a spec with the parser's own lexer (comments included),
lays the tokens out again (`layout`), writes the lines (`lines`) and checks that the
parser reads the same spec back (`equivalence`): only blanks, line breaks and `;`
separators ever change. docs/formatting.md describes the style.
"""

from __future__ import annotations

from inceptgen.errors import InceptgenError
from inceptgen.fmt.equivalence import without_positions
from inceptgen.fmt.layout import layout
from inceptgen.fmt.lexing import tokens
from inceptgen.fmt.lines import render
from inceptgen.limits import Limits
from inceptgen.parse import parse

__all__ = ["FormatterError", "format_text", "without_positions"]


class FormatterError(Exception):
    """The formatted text would not be the same spec: a bug in the formatter, never written out."""


def format_text(text: str, file: str = "<spec>", limits: Limits = Limits()) -> str:
    """`text` in the canonical layout.

    Raises:
        InceptgenError: the text is not a spec the parser accepts (the error `check` reports).
        FormatterError: the result would parse differently (nothing should ever raise this).
    """
    before = parse(text, file, limits)
    toks, gaps = tokens(text)
    result = render(layout(toks, gaps))
    try:
        after = parse(result, file, limits)
    except InceptgenError as exc:
        raise FormatterError(f"{file}: the formatted text does not parse: {exc}") from None
    if without_positions(after) != without_positions(before):
        raise FormatterError(f"{file}: the formatted text is a different spec")
    return result
