"""Text -> syntax tree, with the Lark grammar in `grammars/incept.lark`."""

from __future__ import annotations

import functools
import re

from lark import Lark, Token, Tree, v_args
from lark.exceptions import UnexpectedInput, VisitError
from lark.visitors import Transformer_NonRecursive

from inceptgen import expr as ex
from inceptgen import syntax as sx
from inceptgen.errors import InceptgenError, SourceError, Span, SpecLimitError, SpecSyntaxError
from inceptgen.limits import Limits
from inceptgen.ops import valued_options
from inceptgen.resources import grammar_text
from inceptgen.syntax_errors import syntax_error

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
        raise syntax_error(exc, text, file, _parser()) from None
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
