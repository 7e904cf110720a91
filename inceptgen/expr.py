"""Spec arithmetic: `c * 2`, `c // 4`, `make_divisible(64 * width, 8)`, `2 if i == 0 else 1`.

Expressions stay symbolic in the IR: the checker evaluates them with concrete
parameter values, the emitters render them as Python so that generated
`build_model(**params)` computes the same values at build time. Every operator
and function means exactly what the rendered Python computes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping

from inceptgen.errors import Span, SpecArgumentError, SpecLimitError, SpecNameError
from inceptgen.records import record

__all__ = [
    "Expr",
    "Num",
    "Bool",
    "Size",
    "Str",
    "List",
    "Ref",
    "Attr",
    "BinOp",
    "Neg",
    "Compare",
    "BoolOp",
    "Not",
    "IfElse",
    "Func",
    "Function",
    "Value",
    "evaluate",
    "render",
    "walk",
    "free_names",
    "functions_used",
    "FUNCTIONS",
    "MAX_INT",
]

Value = int | float | bool | str | tuple

#: Integers beyond this are refused: no real layer is that wide, and huge values
#: would make shape arithmetic (and the generated code) slow or meaningless.
MAX_INT = 2**31 - 1


@record
class Num:
    """An integer or float literal: `64`, `0.5`, `1e-3`."""

    value: int | float
    span: Span | None = None


@record
class Bool:
    """`true` or `false`."""

    value: bool
    span: Span | None = None


@record
class Size:
    """A literal like `3x224x224` or `1x7`."""

    dims: tuple[int, ...]
    span: Span | None = None


@record
class Str:
    """A string literal without its quotes: `"same"`."""

    value: str
    span: Span | None = None


@record
class List:
    """`[0.485, 0.456, 0.406]`: a fixed list of numbers (its value is a tuple)."""

    items: tuple[Expr, ...]
    span: Span | None = None


@record
class Ref:
    """A name: a parameter, a repeat's index or a block argument."""

    name: str
    span: Span | None = None


@record
class Attr:
    """`in.channels`: the channels of a block's input."""

    obj: str
    attr: str
    span: Span | None = None


@record
class BinOp:
    """`left op right` for the arithmetic operators `+ - * / // %`."""

    op: str
    left: Expr
    right: Expr
    span: Span | None = None


@record
class Neg:
    """`-operand`."""

    operand: Expr
    span: Span | None = None


@record
class Compare:
    """`a == b`, `a < b`, ...: a boolean."""

    op: str
    left: Expr
    right: Expr
    span: Span | None = None


@record
class BoolOp:
    """`a and b`, `a or b` on booleans."""

    op: str
    left: Expr
    right: Expr
    span: Span | None = None


@record
class Not:
    """`not operand` on a boolean."""

    operand: Expr
    span: Span | None = None


@record
class IfElse:
    """`then if cond else otherwise`, as in Python."""

    cond: Expr
    then: Expr
    otherwise: Expr
    span: Span | None = None


@record
class Func:
    """`name(args)`: a call of one of `FUNCTIONS` (`make_divisible(64 * width, 8)`)."""

    name: str
    args: tuple[Expr, ...]
    span: Span | None = None


Expr = Num | Bool | Size | Str | List | Ref | Attr | BinOp | Neg | Compare | BoolOp | Not | IfElse | Func


def _round(x: float) -> int:
    # Python's round() is banker's rounding; width multipliers want half-up.
    return math.floor(x + 0.5)


def make_divisible(value: float, divisor: int, min_value: int | None = None) -> int:
    """The channel rounding of MobileNet and EfficientNet (torchvision, timm and Keras agree).

    The nearest multiple of `divisor` (at least `min_value`, by default `divisor`), one
    step up if rounding down lost more than 10 % of `value`.
    """
    floor = divisor if min_value is None else min_value
    rounded = max(floor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


@record
class Function:
    """A function a spec may call.

    Attributes:
        impl: what the checker computes.
        python: the Python the emitters write, `{0}`... for arguments or `{args}` for all.
        arity: the fewest and the most arguments it takes (None: no most).
        imports: modules the rendered Python needs (`math`).
        helper: a function the generated module must define (see the targets' helpers).
    """

    impl: Callable[..., Value]
    python: str
    arity: tuple[int, int | None]
    imports: tuple[str, ...] = ()
    helper: str | None = None


#: Functions a spec may call, with the Python the emitters write for them.
FUNCTIONS: dict[str, Function] = {
    "round": Function(_round, "math.floor({0} + 0.5)", (1, 1), ("math",)),
    "ceil": Function(math.ceil, "math.ceil({0})", (1, 1), ("math",)),
    "floor": Function(math.floor, "math.floor({0})", (1, 1), ("math",)),
    "int": Function(int, "int({0})", (1, 1)),
    "max": Function(max, "max({args})", (2, None)),
    "min": Function(min, "min({args})", (2, None)),
    "make_divisible": Function(make_divisible, "make_divisible({args})", (2, 3), helper="make_divisible"),
}

_BINARY: dict[str, Callable[[Value, Value], Value]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "//": lambda a, b: a // b,
    "%": lambda a, b: a % b,
}

_COMPARE: dict[str, Callable[[Value, Value], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _check_number(value: Value, span: Span | None) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecArgumentError(f"arithmetic needs numbers, got {value!r}", span)
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecArgumentError(f"arithmetic gave a non-finite number: {value!r}", span)
    if abs(value) > MAX_INT:
        raise SpecLimitError(f"number {value!r} is larger than the limit {MAX_INT}", span)
    return value


def _check_bool(value: Value, span: Span | None, what: str) -> bool:
    if not isinstance(value, bool):
        raise SpecArgumentError(f"{what} needs true or false, got {value!r}", span, "compare with ==, <, ...")
    return value


def evaluate(expr: Expr, env: Mapping[str, Value]) -> Value:
    """Compute an expression's value.

    Args:
        expr: the expression.
        env: values of the names in scope; `in.channels` is looked up as `in.channels`.

    Raises:
        SpecNameError: a name is not defined.
        SpecArgumentError: arithmetic on a non-number, division by zero, a non-boolean condition.
        SpecLimitError: a literal or a result beyond `MAX_INT`.
    """
    match expr:
        case Num(value, span):
            return _check_number(value, span)
        case Bool(value) | Str(value):
            return value
        case Size(dims, span):
            for dim in dims:
                _check_number(dim, span)
            return dims
        case List(items, span):
            return tuple(_check_number(evaluate(item, env), item.span or span) for item in items)
        case Ref(name, span):
            if name not in env:
                raise SpecNameError(f"unknown name {name!r}", span, _known(env))
            return env[name]
        case Attr(obj, attr, span):
            key = f"{obj}.{attr}"
            if key not in env:
                raise SpecNameError(f"unknown name {key!r}", span, _known_attrs(env))
            return env[key]
        case Neg(operand, span):
            return -_check_number(evaluate(operand, env), span)
        case BinOp(op, left, right, span):
            a = _check_number(evaluate(left, env), span)
            b = _check_number(evaluate(right, env), span)
            if op in ("/", "//", "%") and b == 0:
                raise SpecArgumentError(f"division by zero in {render(expr)}", span)
            return _check_number(_BINARY[op](a, b), span)
        case Compare(op, left, right, span):
            return _compare(op, evaluate(left, env), evaluate(right, env), span)
        case BoolOp(op, left, right, span):
            a = _check_bool(evaluate(left, env), left.span or span, f"'{op}'")
            if (op == "and" and not a) or (op == "or" and a):
                return a  # short-circuit, as the rendered Python does
            return _check_bool(evaluate(right, env), right.span or span, f"'{op}'")
        case Not(operand, span):
            return not _check_bool(evaluate(operand, env), operand.span or span, "'not'")
        case IfElse(cond, then, otherwise, span):
            chosen = then if _check_bool(evaluate(cond, env), cond.span or span, "'if'") else otherwise
            return evaluate(chosen, env)
        case Func(name, args, span):
            return _call(name, args, env, span)
    raise AssertionError(f"not an expression: {expr!r}")


def _compare(op: str, a: Value, b: Value, span: Span | None) -> bool:
    if op in ("==", "!="):
        # Python compares 1 == 1.0 equal and a string with a number unequal; so does the spec.
        return _COMPARE[op](a, b)
    return _COMPARE[op](_check_number(a, span), _check_number(b, span))


def _call(name: str, args: tuple[Expr, ...], env: Mapping[str, Value], span: Span | None) -> Value:
    function = FUNCTIONS.get(name)
    if function is None:
        raise SpecNameError(f"unknown function {name!r}", span, f"known: {', '.join(FUNCTIONS)}")
    fewest, most = function.arity
    if len(args) < fewest or (most is not None and len(args) > most):
        wanted = f"{fewest} or more" if most is None else str(fewest) if fewest == most else f"{fewest} to {most}"
        raise SpecArgumentError(f"{name}() takes {wanted} argument(s), got {len(args)}", span)
    values = [_check_number(evaluate(a, env), a.span or span) for a in args]
    return _check_number(function.impl(*values), span)


def _known(env: Mapping[str, Value]) -> str | None:
    names = sorted(k for k in env if "." not in k)
    return f"names in scope: {', '.join(names)}" if names else None


def _known_attrs(env: Mapping[str, Value]) -> str:
    attrs = sorted(k for k in env if "." in k)
    return f"known here: {', '.join(attrs)}" if attrs else "in.channels is known only inside a block"


# Python's precedence, lowest first; unary minus binds tighter than the binary operators.
_PRECEDENCE = {"if": 1, "or": 2, "and": 3, "not": 4, "cmp": 5, "+": 6, "-": 6, "*": 7, "/": 7, "//": 7, "%": 7}
_NEG = 8


def render(expr: Expr, names: Callable[[str], str] = str, precedence: int = 0) -> str:
    """Write an expression as Python source, mapping spec names through `names`."""
    match expr:
        case Num(value):
            return repr(value)
        case Bool(value):
            return "True" if value else "False"
        case Size(dims):
            return repr(dims)
        case Str(value):
            return repr(value)
        case List(items):
            inner = ", ".join(render(i, names) for i in items)
            return f"({inner},)" if len(items) == 1 else f"({inner})"
        case Ref(name):
            return names(name)
        case Attr(obj, attr):
            return names(f"{obj}.{attr}")
        case Neg(Neg(operand)):  # `x`: `--x` and `-(-x)` read as a decrement (and are x, for every number)
            return render(operand, names, precedence)
        case Neg(operand):
            return _wrap(f"-{render(operand, names, _NEG)}", _NEG, precedence)
        case BinOp(op, left, right):
            mine = _PRECEDENCE[op]
            return _wrap(f"{render(left, names, mine)} {op} {render(right, names, mine + 1)}", mine, precedence)
        case Compare(op, left, right):
            mine = _PRECEDENCE["cmp"]
            return _wrap(f"{render(left, names, mine + 1)} {op} {render(right, names, mine + 1)}", mine, precedence)
        case BoolOp(op, left, right):
            mine = _PRECEDENCE[op]
            return _wrap(f"{render(left, names, mine)} {op} {render(right, names, mine + 1)}", mine, precedence)
        case Not(operand):
            mine = _PRECEDENCE["not"]
            return _wrap(f"not {render(operand, names, mine)}", mine, precedence)
        case IfElse(cond, then, otherwise):
            mine = _PRECEDENCE["if"]
            then_text, cond_text = render(then, names, mine + 1), render(cond, names, mine + 1)
            return _wrap(f"{then_text} if {cond_text} else {render(otherwise, names, mine)}", mine, precedence)
        case Func(name, args):
            rendered = [render(a, names) for a in args]
            return FUNCTIONS[name].python.format(*rendered, args=", ".join(rendered))
    raise AssertionError(f"not an expression: {expr!r}")


def _wrap(text: str, mine: int, outer: int) -> str:
    return f"({text})" if mine < outer else text


def walk(expr: Expr) -> Iterator[Expr]:
    """Every sub-expression, the expression itself first."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        match node:
            case Neg(operand) | Not(operand):
                stack.append(operand)
            case BinOp(_, left, right) | Compare(_, left, right) | BoolOp(_, left, right):
                stack += [right, left]
            case IfElse(cond, then, otherwise):
                stack += [otherwise, cond, then]
            case Func(_, args) | List(args):
                stack += reversed(args)


def free_names(expr: Expr) -> set[str]:
    """Names an expression reads (`in.channels` counts as `in.channels`)."""
    found: set[str] = set()
    for node in walk(expr):
        if isinstance(node, Ref):
            found.add(node.name)
        elif isinstance(node, Attr):
            found.add(f"{node.obj}.{node.attr}")
    return found


def functions_used(expr: Expr) -> set[str]:
    """Names of the functions an expression calls."""
    return {node.name for node in walk(expr) if isinstance(node, Func)}
