"""Which tokens of a line are written with a space between them.

The default is one space; the exceptions are the usual ones of Python code: nothing inside
brackets, before `,` and `:`, around `.`, after a unary minus, or between a name and the
`(` of its call. Only blanks between tokens change, never the tokens, so the parser reads
the same tokens back (a space is never removed where it keeps two tokens apart).
"""

from __future__ import annotations

from inceptgen.fmt.lexing import Token

__all__ = ["is_unary_minus", "space_before"]

#: Token types that end an operand: a `-` after one of them is binary (`c - 1`), else unary (`pad -1`).
_OPERAND_END = frozenset({"NAME", "INT", "FLOAT", "SIZE", "STRING", "TRUE", "FALSE", "RPAR", "RSQB"})
_NO_SPACE_BEFORE = frozenset({")", "]", ",", ":", "."})
_NO_SPACE_AFTER = frozenset({"(", "[", "."})


def is_unary_minus(prev: Token | None, tok: Token) -> bool:
    """Whether `tok` is a `-` that negates (the grammar's `"-" unary`) rather than subtracts."""
    return tok.text == "-" and (prev is None or prev.type not in _OPERAND_END)


def space_before(prev: Token, tok: Token, prev_unary: bool) -> bool:
    """Whether `tok` is written with a space after `prev` on the same line."""
    if tok.text in _NO_SPACE_BEFORE or prev.text in _NO_SPACE_AFTER or prev_unary:
        return False
    if tok.text == "(" and prev.type == "NAME":  # `inception(64)`, `ceil(x)`, `block b(c)`
        return False
    return not (tok.text == "}" and prev.text == "{")  # an empty body: `{}`
