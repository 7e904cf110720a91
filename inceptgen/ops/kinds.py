"""The kinds of value a layer option takes, each with its one check.

The checker evaluates an option's expression and hands the value to its kind, which
refuses what the option cannot mean (with the value received) and returns it in one
normal form: every pair as (h, w), every padding as "same", "valid" or
((top, bottom), (left, right)).
"""

from __future__ import annotations

from collections.abc import Callable

from inceptgen import expr as ex
from inceptgen.errors import Span, SpecArgumentError, SpecShapeError
from inceptgen.records import record

__all__ = [
    "Kind",
    "COUNT",
    "INDEX",
    "PAIR",
    "PADS",
    "EXPLICIT_PADS",
    "RATE",
    "UNIT",
    "POSITIVE",
    "NUMBER",
    "FLAG",
    "NUMBERS",
    "choice",
    "division_hint",
    "optional",
    "Pads",
]

Pads = tuple[tuple[int, int], tuple[int, int]]  # ((top, bottom), (left, right))


@record
class Kind:
    """What an option accepts: `describe` for messages and docs, `check` to validate and normalise."""

    describe: str
    check: Callable[[ex.Value, Span | None, str], ex.Value]
    #: Words a spec writes bare (`pad same`, `init he_normal`): they are strings, not names.
    words: tuple[str, ...] = ()


def _is_int(value: ex.Value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: ex.Value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def division_hint(value: ex.Value) -> str | None:
    """The hint for a whole float (or a size holding one) where integers are wanted: `16 / 2` is 8.0.

    The spec computes as the generated Python does, which would pass the float to Conv2d:
    such a value is refused where check and compile agree.
    """
    values = value if isinstance(value, tuple) else (value,)
    return "use // for integer division" if any(isinstance(v, float) and v.is_integer() for v in values) else None


def _integer(value: ex.Value, span: Span | None, what: str) -> int:
    if not _is_int(value):
        raise SpecArgumentError(f"{what} must be an integer, got {value!r}", span, division_hint(value))
    return value  # type: ignore[return-value]


def _count(value: ex.Value, span: Span | None, what: str) -> int:
    n = _integer(value, span, what)
    if n <= 0:
        raise SpecShapeError(f"{what} must be positive, got {n}", span)
    return n


def _index(value: ex.Value, span: Span | None, what: str) -> int:
    n = _integer(value, span, what)
    if n < 0:
        raise SpecArgumentError(f"{what} must not be negative, got {n}", span)
    return n


def _pair(value: ex.Value, span: Span | None, what: str) -> tuple[int, int]:
    pair = (value, value) if _is_int(value) else value
    if not (isinstance(pair, tuple) and len(pair) == 2 and all(_is_int(v) and v > 0 for v in pair)):
        raise SpecArgumentError(
            f"{what} must be N or HxW with positive sizes, got {value!r}", span, division_hint(value)
        )
    return pair  # type: ignore[return-value]


def _pads(value: ex.Value, span: Span | None, what: str) -> str | Pads:
    if value in ("same", "valid"):
        return value  # type: ignore[return-value]
    if isinstance(value, str | bool):
        raise SpecArgumentError(f"{what} must be same, valid, N, HxW or TxBxLxR, got {value!r}", span)
    sizes = (value,) if _is_int(value) else value
    if not (isinstance(sizes, tuple) and len(sizes) in (1, 2, 4) and all(_is_int(v) and v >= 0 for v in sizes)):
        raise SpecArgumentError(f"{what} must be same, valid, N, HxW or TxBxLxR, got {value!r}", span)
    if len(sizes) == 1:
        return (sizes[0], sizes[0]), (sizes[0], sizes[0])
    if len(sizes) == 2:
        return (sizes[0], sizes[0]), (sizes[1], sizes[1])
    return (sizes[0], sizes[1]), (sizes[2], sizes[3])


def _number(value: ex.Value, span: Span | None, what: str) -> float | int:
    if not _is_number(value):
        raise SpecArgumentError(f"{what} must be a number, got {value!r}", span)
    return value  # type: ignore[return-value]


def _in_range(low: float, high: float, low_open: bool, describe: str) -> Kind:
    def check(value: ex.Value, span: Span | None, what: str) -> float | int:
        number = _number(value, span, what)
        if not (low < number if low_open else low <= number) or not number < high:
            raise SpecArgumentError(f"{what} must be {describe}, got {number!r}", span)
        return number

    return Kind(describe, check)


def _flag(value: ex.Value, span: Span | None, what: str) -> bool:
    if not isinstance(value, bool):
        raise SpecArgumentError(f"{what} must be true or false, got {value!r}", span)
    return value


def _numbers(value: ex.Value, span: Span | None, what: str) -> tuple[float, ...]:
    items = (value,) if _is_number(value) else value
    if not (isinstance(items, tuple) and items and all(_is_number(v) for v in items)):
        raise SpecArgumentError(f"{what} must be a number or a list of numbers like [0.5, 0.5], got {value!r}", span)
    return tuple(float(v) for v in items)


def optional(kind: Kind) -> Kind:
    """`kind`, or the word `none` (the default of an option a spec may leave out): None."""

    def check(value: ex.Value, span: Span | None, what: str) -> ex.Value | None:
        return None if value == "none" else kind.check(value, span, what)

    return Kind(f"{kind.describe}, or none", check, (*kind.words, "none"))


def choice(*words: str) -> Kind:
    """One of a few words (activation names, modes)."""

    def check(value: ex.Value, span: Span | None, what: str) -> str:
        if value not in words:
            raise SpecArgumentError(f"{what} must be one of {', '.join(words)}, got {value!r}", span)
        return value  # type: ignore[return-value]

    return Kind(" | ".join(words), check, words)


COUNT = Kind("a positive integer", _count)
INDEX = Kind("a non-negative integer", _index)
PAIR = Kind("N or HxW", _pair)
PADS = Kind("same, valid, N, HxW or TxBxLxR", _pads, ("same", "valid"))


def _explicit_pads(value: ex.Value, span: Span | None, what: str) -> Pads:
    if isinstance(value, str):
        raise SpecArgumentError(
            f"{what} must be N, HxW or TxBxLxR, not {value!r}", span, "same and valid need a kernel"
        )
    return _pads(value, span, what)  # type: ignore[return-value]


#: Sizes only: the words are known (so that `pad same` is refused as such, not as an unknown name).
EXPLICIT_PADS = Kind("N, HxW or TxBxLxR", _explicit_pads, ("same", "valid"))
RATE = _in_range(0.0, 1.0, False, "in [0, 1)")
UNIT = _in_range(0.0, 1.0, True, "in (0, 1)")
POSITIVE = _in_range(0.0, float("inf"), True, "positive")
NON_NEGATIVE = _in_range(0.0, float("inf"), False, "a number >= 0")
NUMBER = Kind("a number", _number)
FLAG = Kind("true or false", _flag)
NUMBERS = Kind("a number or a list of numbers", _numbers)
