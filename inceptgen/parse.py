"""Text -> syntax tree, with the Lark grammar in `grammars/incept.lark`."""

from __future__ import annotations

import functools

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from inceptgen import expr as ex
from inceptgen import syntax as sx
from inceptgen.errors import SourceError, SpecSyntaxError, Span
from inceptgen.limits import Limits
from inceptgen.resources import grammar_text

__all__ = ["decode", "parse", "parse_expr"]


def decode(data: bytes, file: str, limits: Limits = Limits()) -> str:
    """Bytes of a spec file -> text: UTF-8 with or without BOM; CRLF becomes LF.

    Raises:
        SourceError: the file is too large, holds NUL bytes or is not UTF-8 (with the byte offset).
    """
    if len(data) > limits.max_file_bytes:
        raise SourceError(
            f"{file}: spec is {len(data):,} bytes, more than the limit of {limits.max_file_bytes:,}",
            hint="specs are small text files; is this the right file?",
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        raise SourceError(f"{file}: NUL byte at byte offset {nul}: not a text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{file}: invalid UTF-8 at byte offset {exc.start}", hint="save the spec as UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


@functools.cache
def _parser() -> Lark:
    return Lark(grammar_text(), parser="lalr", propagate_positions=True, maybe_placeholders=True, cache=False)


def parse(text: str, file: str = "<spec>") -> sx.Module:
    """Parse spec text into a syntax tree.

    Raises:
        SpecSyntaxError: the text does not follow the grammar.
    """
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text, file) from None
    return sx.Module(file, tuple(_ToSyntax(file).transform(tree).children))


def parse_expr(text: str, file: str = "<--set>") -> ex.Expr:
    """Parse a single value such as `10`, `3x32x32` or `0.5` (for `--set name=value`)."""
    module = parse(f"model m(v = {text})", file)
    default = module.items[0].params[0].default
    assert default is not None
    return default


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


def _describe(names: set[str]) -> str:
    words = sorted({_TOKEN_NAMES.get(n, n.lower().strip("_")) for n in names})
    return ", ".join(words[:8]) + (" ..." if len(words) > 8 else "")


def _syntax_error(exc: UnexpectedInput, text: str, file: str) -> SpecSyntaxError:
    line, column = exc.line, exc.column
    if isinstance(exc, UnexpectedEOF) or line is None or line < 1:
        lines = text.split("\n")
        line, column = len(lines), len(lines[-1]) + 1
        return SpecSyntaxError("unexpected end of file", Span(file, line, column), "is a '}' or ')' missing?")
    span = Span(file, line, column)
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        got = "end of line" if token.type == "_NL" else repr(str(token))
        return SpecSyntaxError(f"unexpected {got}", span, f"expected {_describe(set(exc.expected))}")
    assert isinstance(exc, UnexpectedCharacters)
    char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
    return SpecSyntaxError(f"unexpected character {char!r}", span, f"expected {_describe(set(exc.allowed or ()))}")


def _span(file: str, meta) -> Span:
    return Span(file, meta.line, meta.column, meta.end_line, meta.end_column)


def _token_span(file: str, token: Token) -> Span:
    return Span(file, token.line, token.column, token.end_line, token.end_column)


@v_args(meta=True)
class _ToSyntax(Transformer):
    """Lark tree -> `syntax` dataclasses, keeping every position."""

    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file

    def _s(self, meta) -> Span:
        return _span(self.file, meta)

    # expressions
    def int_(self, meta, c):
        return ex.Num(int(c[0]), self._s(meta))

    def float_(self, meta, c):
        return ex.Num(float(c[0]), self._s(meta))

    def size(self, meta, c):
        return ex.Size(tuple(int(d) for d in str(c[0]).split("x")), self._s(meta))

    def string(self, meta, c):
        return ex.Str(str(c[0])[1:-1], self._s(meta))

    def ref(self, meta, c):
        return ex.Ref(str(c[0]), self._s(meta))

    def attr(self, meta, c):
        return ex.Attr(str(c[0]), str(c[1]), self._s(meta))

    def func(self, meta, c):
        return ex.Func(str(c[0]), tuple(a for a in c[1:] if a is not None), self._s(meta))

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

    def repeat(self, meta, c):
        return sx.Repeat(c[0], _opt(c[1]), c[2], self._s(meta))

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
