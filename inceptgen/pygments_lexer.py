"""A Pygments lexer for `.incept` specs, so ```` ```incept ```` blocks highlight in Sphinx and MkDocs.

Registered through the `pygments.lexers` entry point (pyproject.toml): installing inceptgen
is enough for `pygmentize -l incept`, Sphinx's `.. code-block:: incept` and MkDocs'
fenced blocks. The words come from `inceptgen.lexicon` (the grammar and the vocabulary);
the number, string and comment patterns are the grammar's own terminals.
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Whitespace

from inceptgen import lexicon

__all__ = ["InceptLexer"]

#: The grammar's NAME terminal.
_NAME = r"[^\W\d]\w*"


class InceptLexer(RegexLexer):
    """Lexer for the .incept CNN architecture language (inceptgen)."""

    name = "Incept"
    aliases = ["incept"]
    filenames = ["*.incept"]
    mimetypes = ["text/x-incept"]
    url = "https://pypi.org/project/inceptgen/"
    version_added = ""

    tokens = {
        "root": [
            (r"[ \t\f]+", Whitespace),
            (r"\r?\n", Whitespace),
            (r"#[^\r\n]*", Comment.Single),
            (r'"[^"\\\r\n]*"', String.Double),
            # Definitions: the name after the word that introduces it.
            (rf"(block)(\s+)({_NAME})", bygroups(Keyword.Declaration, Whitespace, Name.Function)),
            (rf"(model|stage|aux|variant)(\s+)({_NAME})", bygroups(Keyword.Declaration, Whitespace, Name.Class)),
            # The grammar's SIZE, FLOAT and INT terminals, in its priority order.
            (r"[0-9]+(?:x[0-9]+)+(?![\w.])", Number),
            (r"(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+", Number.Float),
            (r"[0-9]+", Number.Integer),
            (words(lexicon.TOP_LEVEL, suffix=r"\b"), Keyword.Declaration),
            (words(lexicon.STATEMENTS + lexicon.SUBCLAUSES, suffix=r"\b"), Keyword),
            (words(lexicon.OPERATOR_WORDS, suffix=r"\b"), Operator.Word),
            (words(lexicon.BOOLEANS, suffix=r"\b"), Keyword.Constant),
            (words(lexicon.FUNCTIONS, suffix=r"(?=[ \t\f]*\()"), Name.Builtin),
            (words(lexicon.LAYERS, suffix=r"\b"), Name.Builtin),
            (words(lexicon.OPTIONS, suffix=r"\b"), Name.Attribute),
            (words(lexicon.FLAGS, suffix=r"\b"), Name.Constant),
            (rf"{_NAME}(?=[ \t\f]*\()", Name.Function),  # a block used: `inception(64, ...)`
            (_NAME, Name),
            (r"->|//|==|!=|<=|>=|[-+*/%<>=]", Operator),
            (r"[{}()\[\],;:.]", Punctuation),
        ]
    }
