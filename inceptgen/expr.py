"""Integer and float arithmetic in specs: `c * 2`, `c // 4`, `round(64 * width)`, `in.channels`.

Expressions stay symbolic in the IR: the checker evaluates them with concrete
parameter values, the emitters render them as Python so that generated
`build_model(**params)` computes the same values at build time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from inceptgen.errors import Span, SpecArgumentError, SpecLimitError, SpecNameError

__all__ = [
    "Expr",
    "Num",
    "Size",
    "Str",
    "Ref",
    "Attr",
    "BinOp",
    "Neg",
    "Func",
    "Value",
    "evaluate",
    "render",
    "free_names",
    "FUNCTIONS",
    "MAX_INT",
]

Value = int | float | str | tuple[int, ...]

#: Integers beyond this are refused: no real layer is that wide, and huge values
#: would make shape arithmetic (and the generated code) slow or meaningless.
MAX_INT = 2**31 - 1


@dataclass(frozen=True)
class Num:
    value: int | float
    span: Span | None = None


@dataclass(frozen=True)
class Size:
    """A literal like `3x224x224` or `1x7`."""

    dims: tuple[int, ...]
    span: Span | None = None


@dataclass(frozen=True)
class Str:
    value: str
    span: Span | None = None


@dataclass(frozen=True)
class Ref:
    name: str
    span: Span | None = None


@dataclass(frozen=True)
class Attr:
    """`in.channels`, `in.height`, `in.width`: the shape of a block's input."""

    obj: str
    attr: str
    span: Span | None = None


@dataclass(frozen=True)
class BinOp:
    op: str
    left: Expr
    right: Expr
    span: Span | None = None


@dataclass(frozen=True)
class Neg:
    operand: Expr
    span: Span | None = None


@dataclass(frozen=True)
class Func:
    name: str
    args: tuple[Expr, ...]
    span: Span | None = None


Expr = Num | Size | Str | Ref | Attr | BinOp | Neg | Func


def _round(x: float) -> int:
    # Python's round() is banker's rounding; width multipliers want half-up.
    return int(math.floor(x + 0.5))


#: Functions a spec may call, with the Python the emitters write for them.
FUNCTIONS: dict[str, tuple[Callable[..., Value], str]] = {
    "round": (_round, "math.floor({0} + 0.5)"),
    "int": (int, "int({0})"),
    "max": (max, "max({args})"),
    "min": (min, "min({args})"),
}

_BINARY: dict[str, Callable[[Value, Value], Value]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "//": lambda a, b: a // b,
    "%": lambda a, b: a % b,
}


def _check_number(value: Value, span: Span | None) -> Value:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecArgumentError(f"arithmetic needs numbers, got {value!r}", span)
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecArgumentError(f"arithmetic gave a non-finite number: {value!r}", span)
    if abs(value) > MAX_INT:
        raise SpecLimitError(f"number {value!r} is larger than the limit {MAX_INT}", span)
    return value


def evaluate(expr: Expr, env: Mapping[str, Value]) -> Value:
    """Compute an expression's value.

    Args:
        expr: the expression.
        env: values of the names in scope; `in.channels` is looked up as `in.channels`.

    Raises:
        SpecNameError: a name is not defined.
        SpecArgumentError: arithmetic on a non-number, division by zero.
        SpecLimitError: a literal or a result beyond `MAX_INT`.
    """
    match expr:
        case Num(value, span):
            return _check_number(value, span)
        case Str(value):
            return value
        case Size(dims, span):
            for dim in dims:
                _check_number(dim, span)
            return dims
        case Ref(name, span):
            if name not in env:
                raise SpecNameError(f"unknown name {name!r}", span, _known(env))
            return env[name]
        case Attr(obj, attr, span):
            key = f"{obj}.{attr}"
            if key not in env:
                raise SpecNameError(f"unknown name {key!r}", span, "known: in.channels, in.height, in.width")
            return env[key]
        case Neg(operand, span):
            return -_check_number(evaluate(operand, env), span)
        case BinOp(op, left, right, span):
            a = _check_number(evaluate(left, env), span)
            b = _check_number(evaluate(right, env), span)
            if op in ("/", "//", "%") and b == 0:
                raise SpecArgumentError(f"division by zero in {render(expr)}", span)
            return _check_number(_BINARY[op](a, b), span)
        case Func(name, args, span):
            if name not in FUNCTIONS:
                raise SpecNameError(f"unknown function {name!r}", span, f"known: {', '.join(FUNCTIONS)}")
            values = [_check_number(evaluate(a, env), span) for a in args]
            try:
                return _check_number(FUNCTIONS[name][0](*values), span)
            except TypeError as exc:
                raise SpecArgumentError(f"{name}() cannot take {len(values)} argument(s)", span) from exc
    raise AssertionError(f"not an expression: {expr!r}")


def _known(env: Mapping[str, Value]) -> str | None:
    names = sorted(k for k in env if "." not in k)
    return f"names in scope: {', '.join(names)}" if names else None


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "//": 2, "%": 2}


def render(expr: Expr, names: Callable[[str], str] = str, precedence: int = 0) -> str:
    """Write an expression as Python source, mapping spec names through `names`."""
    match expr:
        case Num(value):
            return repr(value)
        case Size(dims):
            return repr(dims)
        case Str(value):
            return repr(value)
        case Ref(name):
            return names(name)
        case Attr(obj, attr):
            return names(f"{obj}.{attr}")
        case Neg(operand):
            return f"-{render(operand, names, 3)}"
        case BinOp(op, left, right):
            mine = _PRECEDENCE[op]
            text = f"{render(left, names, mine)} {op} {render(right, names, mine + 1)}"
            return f"({text})" if mine < precedence else text
        case Func(name, args):
            rendered = [render(a, names) for a in args]
            template = FUNCTIONS[name][1]
            return template.format(*rendered, args=", ".join(rendered))
    raise AssertionError(f"not an expression: {expr!r}")


def walk(expr: Expr) -> Iterator[Expr]:
    """Every sub-expression, the expression itself first."""
    yield expr
    match expr:
        case Neg(operand):
            yield from walk(operand)
        case BinOp(_, left, right):
            yield from walk(left)
            yield from walk(right)
        case Func(_, args):
            for arg in args:
                yield from walk(arg)


def free_names(expr: Expr) -> set[str]:
    """Names an expression reads (`in.channels` counts as `in.channels`)."""
    found: set[str] = set()
    for node in walk(expr):
        if isinstance(node, Ref):
            found.add(node.name)
        elif isinstance(node, Attr):
            found.add(f"{node.obj}.{node.attr}")
    return found
