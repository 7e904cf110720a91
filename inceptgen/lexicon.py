"""The words of the language, for highlighters and the language server: read from the grammar and
the vocabulary (`inceptgen.ops.OPS`), never copied by hand.

The Pygments lexer, the TextMate grammar of the VS Code extension and the language
server's completion all take their keyword lists from here, so a layer kind or option
added to the vocabulary is highlighted and completed without touching any of them.
"""

from __future__ import annotations

import re

from inceptgen import expr as ex
from inceptgen.ops import OPS, valued_options
from inceptgen.resources import grammar_text

__all__ = [
    "BOOLEANS",
    "FLAGS",
    "FUNCTIONS",
    "GRAMMAR_WORDS",
    "LAYERS",
    "OPERATOR_WORDS",
    "OPTIONS",
    "STATEMENTS",
    "SUBCLAUSES",
    "TOP_LEVEL",
]


def _grammar_words() -> frozenset[str]:
    """Every word the grammar spells out as a literal (`"model"`, `"concat"`, `"as"`, ...)."""
    return frozenset(re.findall(r'"([a-z_]+)"', grammar_text()))


#: Every keyword of the grammar; the groups below partition it (tests/test_lexer.py checks they do).
GRAMMAR_WORDS = _grammar_words()
#: Words that start a top-level item.
TOP_LEVEL = ("import", "model", "variant", "defaults", "block", "stage", "head", "aux")
#: Words that start a statement inside a body.
STATEMENTS = ("concat", "branch", "residual", "shortcut", "gate", "repeat", "if", "else", "defaults")
#: Words inside an item or statement: `aux a after s weight 0.3`, `repeat 3 index i as r`.
SUBCLAUSES = ("after", "weight", "index", "as")
#: Words of expressions.
OPERATOR_WORDS = ("and", "or", "not")
BOOLEANS = ("true", "false")

#: Layer keywords, in the vocabulary's order.
LAYERS = tuple(OPS)
#: Options written `key value` (`stride 2`), longest first as the grammar matches them.
OPTIONS = tuple(valued_options())
#: Words that set an option alone (`nobias`, `relu` after a conv), none of them a layer keyword.
FLAGS = tuple(sorted({flag for op in OPS.values() for flag in op.flags} - set(OPS)))
#: The functions an expression may call (`ceil`, `make_divisible`, ...).
FUNCTIONS = tuple(ex.FUNCTIONS)
