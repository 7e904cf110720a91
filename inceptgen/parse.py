"""Text -> syntax tree, with the Lark grammar in `grammars/incept.lark`."""

from __future__ import annotations

import functools
import re

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from inceptgen import expr as ex
from inceptgen import syntax as sx
from inceptgen.errors import SourceError, Span, SpecLimitError, SpecSyntaxError
from inceptgen.limits import Limits
from inceptgen.ops import valued_options
from inceptgen.resources import grammar_text
from inceptgen.syntax_errors import syntax_error

__all__ = ["parse", "parse_expr"]


@functools.cache
def _parser() -> Lark:
    # The grammar is generic about layers; the options that take a value come from the vocabulary.
    grammar = grammar_text().replace("VALUED_OPTIONS", "|".join(valued_options()))
    return Lark(grammar, parser="lalr", maybe_placeholders=True, cache=True)


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
    # once per level; the conversion below does not recurse at all).
    _check_nesting(tree, file, limits)
    return sx.Module(file, tuple(_ToSyntax(file).convert(tree)))


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
                raise SpecLimitError(f"nesting deeper than {limits.max_depth} levels", _tree_span(file, node))
        elif node.data in _EXPR_RULES:
            expr_depth += 1
            if expr_depth > limits.max_expr_depth:
                raise SpecLimitError(
                    f"expression nested deeper than {limits.max_expr_depth} levels",
                    _tree_span(file, node),
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


def _tree_span(file: str, tree: Tree) -> Span:
    """From the first token of a tree to its last (for errors found before it is converted)."""
    first = last = tree
    while isinstance(first, Tree):
        first = next(c for c in first.children if c is not None)
    while isinstance(last, Tree):
        last = next(c for c in reversed(last.children) if c is not None)
    return Span(file, first.line, first.column, last.end_line, last.end_column)


#: Where a token or a converted construct lies: (line, column, end line, end column).
Extent = tuple[int, int, int, int]


def _extent(parts: list[Extent | None]) -> Extent:
    """From the start of the first part to the end of the last (None: an optional part left out)."""
    first = next(p for p in parts if p is not None)
    last = next(p for p in reversed(parts) if p is not None)
    return first[0], first[1], last[2], last[3]


class _ToSyntax:
    """Lark tree -> `syntax` dataclasses, keeping every position.

    Each grammar rule has a method of its name, taking the construct's extent and its children,
    already converted. `convert` visits the tree children first, without recursion (so that
    no nesting the limits allow can overflow the stack), and works out each construct's extent
    from its first and last token: the grammar names the keywords and brackets that begin or
    end a construct, so that they stay in the tree. (Lark can record positions itself, but
    doing so doubles its parse time; so does its `Transformer` wrapping each method per node.)
    A parenthesised expression keeps its own span, and its parent's extent includes the
    parentheses.
    """

    def __init__(self, file: str) -> None:
        self.file = file

    def convert(self, tree: Tree) -> list:
        """The converted children of the tree's root (the `start` rule, a list of items)."""
        # Children before parents: the reverse of a pre-order visit that pushes children in order.
        order: list = []
        pending: list = [tree]
        while pending:
            node = pending.pop()
            order.append(node)
            if isinstance(node, Tree):
                pending.extend(node.children)
        rules = _RULES
        done: list = []
        extents: list[Extent | None] = []
        for node in reversed(order[1:]):
            if isinstance(node, Tree):
                cut = len(done) - len(node.children)
                children, extent = done[cut:], _extent(extents[cut:])
                del done[cut:], extents[cut:]
                done.append(rules[node.data](self, extent, children))
                extents.append(extent)
            else:  # a token, or None for an optional part left out
                done.append(node)
                extents.append(None if node is None else (node.line, node.column, node.end_line, node.end_column))
        return done

    def _s(self, extent: Extent) -> Span:
        return Span(self.file, *extent)

    # expressions
    def int_(self, at, c):
        return ex.Num(self._int(str(c[0]), at), self._s(at))

    def _int(self, digits: str, at) -> int:
        # Python refuses to convert strings of more than 4,300 digits (and a 1 MB literal would be
        # slow to convert): anything with more digits than MAX_INT is refused before converting.
        significant = digits.lstrip("0") or "0"
        if len(significant) > len(str(ex.MAX_INT)):
            shown = significant if len(significant) <= 20 else f"{significant[:8]}...({len(significant):,} digits)"
            raise SpecLimitError(f"number {shown} is larger than the limit {ex.MAX_INT}", self._s(at))
        return int(significant)

    def float_(self, at, c):
        return ex.Num(float(c[0]), self._s(at))

    def size(self, at, c):
        return ex.Size(tuple(self._int(d, at) for d in str(c[0]).split("x")), self._s(at))

    def string(self, at, c):
        return ex.Str(str(c[0])[1:-1], self._s(at))

    def ref(self, at, c):
        return ex.Ref(str(c[0]), self._s(at))

    def attr(self, at, c):
        return ex.Attr(str(c[0]), str(c[1]), self._s(at))

    def func(self, at, c):  # NAME ( args ) -- the last child is the ')'
        return ex.Func(str(c[0]), tuple(a for a in c[1:-1] if a is not None), self._s(at))

    def true(self, at, c):
        return ex.Bool(True, self._s(at))

    def false(self, at, c):
        return ex.Bool(False, self._s(at))

    def list_(self, at, c):  # [ items ]
        return ex.List(tuple(a for a in c[1:-1] if a is not None), self._s(at))

    def atom(self, at, c):  # ( expr ): the expression keeps its own span
        return c[1]

    def compare(self, at, c):
        return ex.Compare(str(c[1]), c[0], c[2], self._s(at))

    def and_op(self, at, c):
        return ex.BoolOp("and", c[0], c[1], self._s(at))

    def or_op(self, at, c):
        return ex.BoolOp("or", c[0], c[1], self._s(at))

    def not_op(self, at, c):  # not operand
        return ex.Not(c[1], self._s(at))

    def ifelse(self, at, c):
        return ex.IfElse(c[1], c[0], c[2], self._s(at))

    def neg(self, at, c):  # - operand
        return ex.Neg(c[1], self._s(at))

    def _binop(self, op: str, at, c):
        return ex.BinOp(op, c[0], c[1], self._s(at))

    def add(self, at, c):
        return self._binop("+", at, c)

    def sub(self, at, c):
        return self._binop("-", at, c)

    def mul(self, at, c):
        return self._binop("*", at, c)

    def truediv(self, at, c):
        return self._binop("/", at, c)

    def floordiv(self, at, c):
        return self._binop("//", at, c)

    def mod(self, at, c):
        return self._binop("%", at, c)

    # statements (the first child of most is their keyword)
    def positional(self, at, c):
        token = c[0]
        if token.type == "SIZE":
            return self.size(at, c)
        return self.int_(at, c) if token.type == "INT" else self.float_(at, c)

    def valued_option(self, at, c):
        return sx.Option(str(c[0]), c[1], self._s(at))

    def flag_option(self, at, c):
        return sx.Option(str(c[0]), None, self._s(at))

    def layer(self, at, c):
        op, positional, out, *rest = c
        *options, name = rest
        return sx.Layer(str(op), positional, out, tuple(options), _opt(name), self._s(at))

    def arg(self, at, c):
        return sx.Arg(_opt(c[0]), c[1], self._s(at))

    def call(self, at, c):  # NAME ( args ) [as NAME]
        args = tuple(a for a in c[1:-2] if a is not None)
        return sx.Call(str(c[0]), args, _opt(c[-1]), self._s(at))

    def body(self, at, c):  # { statements }
        return tuple(c[1:-1])

    def concat(self, at, c):
        return sx.Concat(_opt(c[1]), c[2], self._s(at))

    def branch(self, at, c):
        return sx.Branch(_opt(c[1]), c[2], self._s(at))

    def residual(self, at, c):
        return sx.Residual(c[1], _opt(c[2]), c[3], self._s(at))

    def shortcut(self, at, c):
        return sx.Shortcut(c[1], self._s(at))

    def gate(self, at, c):
        return sx.Gate(_opt(c[1]), c[2], self._s(at))

    def repeat(self, at, c):
        return sx.Repeat(c[1], _opt(c[2]), _opt(c[3]), c[4], self._s(at))

    def if_(self, at, c):
        otherwise = c[3]
        if isinstance(otherwise, sx.If):  # `else if`: a body holding the nested condition
            otherwise = (otherwise,)
        return sx.If(c[1], c[2], otherwise or (), self._s(at))

    def default_rule(self, at, c):
        return sx.DefaultRule(str(c[0]), tuple(c[1:]), self._s(at))

    def defaults(self, at, c):  # defaults { rules }
        return sx.Defaults(tuple(c[1:-1]), self._s(at))

    # top level
    def param(self, at, c):
        return sx.Param(str(c[0]), c[1], self._s(at))

    def import_(self, at, c):
        return sx.Import(str(c[1])[1:-1], self._s(at))

    def model(self, at, c):
        return sx.ModelDecl(str(c[1]), tuple(p for p in c[2:] if isinstance(p, sx.Param)), self._s(at))

    def variant(self, at, c):
        return sx.Variant(str(c[1]), tuple(a for a in c[2:] if isinstance(a, sx.Arg)), self._s(at))

    def block_def(self, at, c):
        params = tuple(p for p in c[2:-1] if isinstance(p, sx.Param))
        return sx.BlockDef(str(c[1]), params, c[-1], self._s(at))

    def stage(self, at, c):
        return sx.Stage(str(c[1]), c[2], self._s(at))

    def head(self, at, c):
        return sx.Head(c[1], self._s(at))

    def aux(self, at, c):
        after = c[2]
        return sx.Aux(str(c[1]), str(after), _token_span(self.file, after), c[3], c[4], self._s(at))


def _token_span(file: str, token: Token) -> Span:
    return Span(file, token.line, token.column, token.end_line, token.end_column)


#: The method converting each rule, by the rule's name (the `start` rule is the list of items).
_RULES = {name: method for name, method in vars(_ToSyntax).items() if not name.startswith("_") and name != "convert"}


def _opt(token: Token | None) -> str | None:
    return None if token is None else str(token)
