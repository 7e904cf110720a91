"""Text -> syntax tree, with the Lark grammar in `grammars/incept.lark`."""

from __future__ import annotations

import difflib
import functools
import re

from lark import Lark, Token, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from lark.lexer import PatternStr
from lark.visitors import Transformer_NonRecursive

from inceptgen import expr as ex
from inceptgen import syntax as sx
from inceptgen.errors import InceptgenError, SourceError, Span, SpecLimitError, SpecNameError, SpecSyntaxError
from inceptgen.limits import Limits
from inceptgen.names import KEYWORDS
from inceptgen.ops import ACTIVATIONS, OPS, valued_options
from inceptgen.resources import grammar_text

__all__ = ["parse", "parse_expr"]


@functools.cache
def _parser() -> Lark:
    # The grammar is generic about layers; the options that take a value come from the vocabulary.
    grammar = grammar_text().replace("VALUED_OPTIONS", "|".join(valued_options()))
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True, cache=True)


def parse(text: str, file: str = "<spec>", limits: Limits = Limits()) -> sx.Module:
    """Parse spec text into a syntax tree.

    Raises:
        SpecSyntaxError: the text does not follow the grammar.
        SpecNameError: a value follows a name that is not an option taking one (`strid 2`).
        SpecLimitError: bodies or expressions nested deeper than `limits` allow, or an integer
            literal with more digits than any accepted value has.
    """
    # Text handed over directly (the API's `load(text)`) meets the same size cap as a file.
    size = len(text.encode("utf-8", "surrogatepass")) if len(text) * 4 > limits.max_file_bytes else len(text)
    if size > limits.max_file_bytes:
        raise SourceError(
            f"{file}: spec is {size:,} bytes, more than the limit of {limits.max_file_bytes:,}",
            hint="specs are small text files; is this the right file?",
        )
    _check_tokens(text, file, limits)
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text, file) from None
    # Refuse absurd nesting before anything recursive walks the tree (later stages recurse
    # once per level; the transformer below does not recurse at all).
    _check_nesting(tree, file, limits)
    try:
        items = _ToSyntax(file).transform(tree).children
    except VisitError as exc:
        if isinstance(exc.orig_exc, InceptgenError):
            raise exc.orig_exc from None
        raise
    return sx.Module(file, tuple(items))


#: A token as the parser counts them, near enough to bound its work: comments and strings are one.
_TOKEN = re.compile(r'#[^\n]*|"[^"\n]*"|[0-9.]+(?:[xeE][-+0-9]+)*|\w+|//|->|[=!<>]=|\S')


def _check_tokens(text: str, file: str, limits: Limits) -> None:
    """Refuse a file of more tokens than `limits.max_tokens` before the parser spends seconds on it."""
    count = 0
    for match in _TOKEN.finditer(text):
        if match.group()[0] != "#":
            count += 1
            if count > limits.max_tokens:
                line = text.count("\n", 0, match.start()) + 1
                raise SpecLimitError(
                    f"the spec has more than {limits.max_tokens:,} tokens",
                    Span(file, line, match.start() - text.rfind("\n", 0, match.start())),
                    "real specs have a few hundred; split it into imported files of blocks",
                )


#: Rules that open a nested body (as the lowering counts depth) and expression operators.
_NESTING_RULES = frozenset({"branch", "residual", "shortcut", "gate", "repeat", "if_"})
_EXPR_RULES = frozenset(
    {"add", "sub", "mul", "truediv", "floordiv", "mod", "neg", "func", "list_"}
    | {"compare", "and_op", "or_op", "not_op", "ifelse"}
)


def _check_nesting(tree: Tree, file: str, limits: Limits) -> None:
    """Bodies nested deeper than `limits.max_depth`, expressions deeper than `limits.max_expr_depth`."""
    stack: list[tuple[Tree, int, int]] = [(tree, 0, 0)]
    while stack:
        node, depth, expr_depth = stack.pop()
        if node.data in _NESTING_RULES:
            depth += 1
            if depth > limits.max_depth:
                raise SpecLimitError(f"nesting deeper than {limits.max_depth} levels", _span(file, node.meta))
        elif node.data in _EXPR_RULES:
            expr_depth += 1
            if expr_depth > limits.max_expr_depth:
                raise SpecLimitError(
                    f"expression nested deeper than {limits.max_expr_depth} levels",
                    _span(file, node.meta),
                    "split it with block parameters or compute the value outside the spec",
                )
        stack.extend((child, depth, expr_depth) for child in node.children if isinstance(child, Tree))


def parse_expr(text: str, file: str = "<--set>") -> ex.Expr:
    """Parse a single value such as `10`, `3x32x32` or `0.5` (for `--set name=value`)."""
    module = parse(f"model m(v = {text})", file)
    params = module.items[0].params
    if len(params) != 1 or params[0].default is None:  # `10, input = 3x8x8`: two values in one
        raise SpecSyntaxError(f"expected one value, got {text!r}", None, "give each parameter its own --set")
    return params[0].default


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


def _word(name: str) -> str:
    if name in _TOKEN_NAMES:
        return _TOKEN_NAMES[name]
    if name == "$END":
        return "end of file"
    try:
        pattern = _parser().get_terminal(name).pattern
    except KeyError:
        return name.lower().strip("_")
    # Keywords and punctuation ('branch', '//', '+') are shown as written.
    return repr(pattern.value) if isinstance(pattern, PatternStr) else name.lower().strip("_")


def _describe(names: set[str]) -> str:
    words = sorted({_word(n) for n in names})
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


def _syntax_error(exc: UnexpectedInput, text: str, file: str) -> SpecSyntaxError | SpecNameError:
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
        return SpecSyntaxError(f"unexpected {got}", span, f"expected {_describe(set(exc.expected))}")
    assert isinstance(exc, UnexpectedCharacters)
    char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
    return SpecSyntaxError(f"unexpected character {char!r}", span, f"expected {_describe(set(exc.allowed or ()))}")


def _span(file: str, meta) -> Span:
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


def _token_span(file: str, token: Token) -> Span:
    return Span(file, token.line, token.column, token.end_line, token.end_column)


@v_args(meta=True)
class _ToSyntax(Transformer_NonRecursive):
    """Lark tree -> `syntax` dataclasses, keeping every position."""

    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file

    def _s(self, meta) -> Span:
        return _span(self.file, meta)

    # expressions
    def int_(self, meta, c):
        return ex.Num(self._int(str(c[0]), meta), self._s(meta))

    def _int(self, digits: str, meta) -> int:
        # Python refuses to convert strings of more than 4,300 digits (and a 1 MB literal would be
        # slow to convert): anything with more digits than MAX_INT is refused before converting.
        significant = digits.lstrip("0") or "0"
        if len(significant) > len(str(ex.MAX_INT)):
            shown = significant if len(significant) <= 20 else f"{significant[:8]}...({len(significant):,} digits)"
            raise SpecLimitError(f"number {shown} is larger than the limit {ex.MAX_INT}", self._s(meta))
        return int(significant)

    def float_(self, meta, c):
        return ex.Num(float(c[0]), self._s(meta))

    def size(self, meta, c):
        return ex.Size(tuple(self._int(d, meta) for d in str(c[0]).split("x")), self._s(meta))

    def string(self, meta, c):
        return ex.Str(str(c[0])[1:-1], self._s(meta))

    def ref(self, meta, c):
        return ex.Ref(str(c[0]), self._s(meta))

    def attr(self, meta, c):
        return ex.Attr(str(c[0]), str(c[1]), self._s(meta))

    def func(self, meta, c):
        return ex.Func(str(c[0]), tuple(a for a in c[1:] if a is not None), self._s(meta))

    def true(self, meta, c):
        return ex.Bool(True, self._s(meta))

    def false(self, meta, c):
        return ex.Bool(False, self._s(meta))

    def list_(self, meta, c):
        return ex.List(tuple(a for a in c if a is not None), self._s(meta))

    def compare(self, meta, c):
        return ex.Compare(str(c[1]), c[0], c[2], self._s(meta))

    def and_op(self, meta, c):
        return ex.BoolOp("and", c[0], c[1], self._s(meta))

    def or_op(self, meta, c):
        return ex.BoolOp("or", c[0], c[1], self._s(meta))

    def not_op(self, meta, c):
        return ex.Not(c[0], self._s(meta))

    def ifelse(self, meta, c):
        return ex.IfElse(c[1], c[0], c[2], self._s(meta))

    def neg(self, meta, c):
        return ex.Neg(c[0], self._s(meta))

    def _binop(self, op: str, meta, c):
        return ex.BinOp(op, c[0], c[1], self._s(meta))

    def add(self, meta, c):
        return self._binop("+", meta, c)

    def sub(self, meta, c):
        return self._binop("-", meta, c)

    def mul(self, meta, c):
        return self._binop("*", meta, c)

    def truediv(self, meta, c):
        return self._binop("/", meta, c)

    def floordiv(self, meta, c):
        return self._binop("//", meta, c)

    def mod(self, meta, c):
        return self._binop("%", meta, c)

    # statements
    def positional(self, meta, c):
        token = c[0]
        if token.type == "SIZE":
            return self.size(meta, c)
        return self.int_(meta, c) if token.type == "INT" else self.float_(meta, c)

    def valued_option(self, meta, c):
        return sx.Option(str(c[0]), c[1], self._s(meta))

    def flag_option(self, meta, c):
        return sx.Option(str(c[0]), None, self._s(meta))

    def layer(self, meta, c):
        op, positional, out, *rest = c
        *options, name = rest
        return sx.Layer(str(op), positional, out, tuple(options), _opt(name), self._s(meta))

    def arg(self, meta, c):
        return sx.Arg(_opt(c[0]), c[1], self._s(meta))

    def call(self, meta, c):
        *args, name = c[1:]
        return sx.Call(str(c[0]), tuple(a for a in args if a is not None), _opt(name), self._s(meta))

    def body(self, meta, c):
        return tuple(c)

    def concat(self, meta, c):
        return sx.Concat(_opt(c[0]), c[1], self._s(meta))

    def branch(self, meta, c):
        return sx.Branch(_opt(c[0]), c[1], self._s(meta))

    def residual(self, meta, c):
        return sx.Residual(c[0], _opt(c[1]), c[2], self._s(meta))

    def shortcut(self, meta, c):
        return sx.Shortcut(c[0], self._s(meta))

    def gate(self, meta, c):
        return sx.Gate(_opt(c[0]), c[1], self._s(meta))

    def repeat(self, meta, c):
        return sx.Repeat(c[0], _opt(c[1]), _opt(c[2]), c[3], self._s(meta))

    def if_(self, meta, c):
        otherwise = c[2]
        if isinstance(otherwise, sx.If):  # `else if`: a body holding the nested condition
            otherwise = (otherwise,)
        return sx.If(c[0], c[1], otherwise or (), self._s(meta))

    def default_rule(self, meta, c):
        return sx.DefaultRule(str(c[0]), tuple(c[1:]), self._s(meta))

    def defaults(self, meta, c):
        return sx.Defaults(tuple(c), self._s(meta))

    # top level
    def param(self, meta, c):
        return sx.Param(str(c[0]), c[1], self._s(meta))

    def import_(self, meta, c):
        return sx.Import(str(c[0])[1:-1], self._s(meta))

    def model(self, meta, c):
        return sx.ModelDecl(str(c[0]), tuple(p for p in c[1:] if p is not None), self._s(meta))

    def variant(self, meta, c):
        return sx.Variant(str(c[0]), tuple(a for a in c[1:] if a is not None), self._s(meta))

    def block_def(self, meta, c):
        params = tuple(p for p in c[1:-1] if p is not None)
        return sx.BlockDef(str(c[0]), params, c[-1], self._s(meta))

    def stage(self, meta, c):
        return sx.Stage(str(c[0]), c[1], self._s(meta))

    def head(self, meta, c):
        return sx.Head(c[0], self._s(meta))

    def aux(self, meta, c):
        after = c[1]
        return sx.Aux(str(c[0]), str(after), _token_span(self.file, after), c[2], c[3], self._s(meta))


def _opt(token: Token | None) -> str | None:
    return None if token is None else str(token)
