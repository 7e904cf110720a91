"""The Pygments lexer: registered by entry point, no error tokens on any spec, words from the vocabulary.

Every token the parser's own lexer produces (in its context) is checked against the type
Pygments gives the same text: layer keywords, options, sizes, numbers, strings, comments.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, String

from inceptgen import lexicon
from inceptgen.ops import OPS, valued_options
from inceptgen.parse import _parser
from inceptgen.pygments_lexer import InceptLexer
from inceptgen.resources import grammar_text

ROOT = Path(__file__).resolve().parents[1]
SPECS = sorted((ROOT / "specs").rglob("*.incept")) + sorted((ROOT / "tests" / "fixtures" / "parity").glob("*.incept"))
DOC_BLOCKS = re.findall(r"^```incept[ \t]*\n(.*?)^```", (ROOT / "docs" / "language.md").read_text(), re.M | re.S)


def test_registered_through_the_entry_point() -> None:
    assert isinstance(get_lexer_by_name("incept"), InceptLexer)
    assert isinstance(get_lexer_for_filename("net.incept"), InceptLexer)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_spec_tokenises_without_errors(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    tokens = list(InceptLexer().get_tokens(text))
    errors = [value for kind, value in tokens if kind in Error]
    assert errors == []
    assert "".join(value for _, value in tokens) == (text if text.endswith("\n") else text + "\n")


def test_the_docs_spec_blocks_tokenise_without_errors() -> None:
    for block in DOC_BLOCKS:
        assert [v for k, v in InceptLexer().get_tokens(block) if k in Error] == [], block


#: The parser's token types and the Pygments type each must get.
EXPECTED = {
    "SIZE": Number,
    "FLOAT": Number.Float,
    "INT": Number.Integer,
    "STRING": String.Double,
    "OPTION_KEY": Name.Attribute,
}


@pytest.mark.parametrize("path", SPECS, ids=lambda p: str(p.relative_to(ROOT)))
def test_tokens_agree_with_the_parser(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    types = {start: kind for start, kind, _ in InceptLexer().get_tokens_unprocessed(text)}
    for tok in _parser().parse_interactive(text).iter_parse():
        got = types.get(tok.start_pos)
        if tok.type in EXPECTED:
            assert got is EXPECTED[tok.type], (tok, got)
        elif tok.type == "NAME" and str(tok) in OPS and got is not None:
            assert got in (Name.Builtin, Name.Function, Name.Class), (tok, got)
        elif str(tok) in lexicon.GRAMMAR_WORDS and tok.type != "NAME":
            assert got in Keyword or got in Operator.Word, (tok, got)
        elif tok.type == "_NL" and "#" in str(tok):
            comment = tok.start_pos + str(tok).index("#")
            assert types.get(comment) in Comment, (tok, types.get(comment))


def test_words_come_from_the_vocabulary_and_the_grammar() -> None:
    assert tuple(OPS) == lexicon.LAYERS
    assert set(lexicon.OPTIONS) == set(valued_options())
    assert set(lexicon.FLAGS) == {flag for op in OPS.values() for flag in op.flags} - set(OPS)
    literals = set(re.findall(r'"([a-z_]+)"', grammar_text()))
    groups = (lexicon.TOP_LEVEL, lexicon.STATEMENTS, lexicon.SUBCLAUSES, lexicon.OPERATOR_WORDS, lexicon.BOOLEANS)
    assert set().union(*groups) == literals == lexicon.GRAMMAR_WORDS


def test_every_layer_keyword_and_option_is_highlighted() -> None:
    for word in lexicon.LAYERS:
        (kind, value), *_ = InceptLexer().get_tokens(f"{word} ")
        assert (kind, value) == (Name.Builtin, word)
    for word in lexicon.OPTIONS:
        (kind, value), *_ = InceptLexer().get_tokens(f"{word} ")
        assert (kind, value) == (Name.Attribute, word)
    tokens = [(k, v) for k, v in InceptLexer().get_tokens("convolution conv_1 myconv") if v.strip()]
    assert tokens == [(Name, "convolution"), (Name, "conv_1"), (Name, "myconv")]


def test_html_output_marks_the_words() -> None:
    html = highlight("stage s { conv 3x3 -> 8 stride 2 }  # c\n", InceptLexer(), HtmlFormatter())
    assert '<span class="nb">conv</span>' in html and '<span class="na">stride</span>' in html
    assert '<span class="c1"># c</span>' in html and '<span class="m">3x3</span>' in html
