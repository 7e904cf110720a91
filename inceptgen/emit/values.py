"""Typed values on their way from the emitter to the templates.

A `Py` is a value in generated code: the source text the template writes and, when
the value is known when generating, the constant itself. Templates and emitters
decide with the constant (`stride.is_(1)`), never by looking at rendered text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from inceptgen import expr as ex

__all__ = ["Py", "UNKNOWN", "NORMAL_INITS", "const", "kwargs", "std_applies"]


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


#: The value of a `Py` that is only known when the generated code runs.
UNKNOWN: Any = _Unknown()


@dataclass(frozen=True)
class Py:
    """A value in generated code.

    Attributes:
        code: its Python source.
        value: the constant it is, or `UNKNOWN` when it depends on parameters.
    """

    code: str
    value: Any = UNKNOWN

    def __str__(self) -> str:
        return self.code

    @property
    def known(self) -> bool:
        return self.value is not UNKNOWN

    def is_(self, value: object) -> bool:
        """Whether this is the constant `value` (`True` is not `1` here)."""
        return self.known and type(self.value) is type(value) and self.value == value

    @classmethod
    def of(cls, e: ex.Expr, names: Callable[[str], str], precedence: int = 0) -> Py:
        """An expression as code in a scope whose names `names` maps; constants folded."""
        if not ex.free_names(e):
            folded = ex.evaluate(e, {})
            return cls(_literal(folded), folded)
        return cls(ex.render(e, names, precedence))


def const(value: object) -> Py:
    """A constant known when generating."""
    return Py(_literal(value), value)


def _literal(value: object) -> str:
    if isinstance(value, tuple) and len(value) == 2 and value[0] == value[1] and isinstance(value[0], int):
        return repr(value)
    return repr(value)


def kwargs(pairs: Iterable[tuple[str, Py]], defaults: dict[str, object]) -> list[str]:
    """`key=value` for each pair whose value is not the helper's default for `key`."""
    return [f"{key}={value}" for key, value in pairs if key not in defaults or not value.is_(defaults[key])]


#: The initialisers `std` shapes; with any other a layer's `std` keeps the helpers' default and is
#: not stated (without the `init` helper neither conv helper nor linear layer takes one).
NORMAL_INITS = frozenset({"normal", "trunc_normal"})


def std_applies(init: ex.Expr) -> bool:
    """Whether a layer's `std` reaches the generated code: its `init` is normal, or known only when it runs."""
    return bool(ex.free_names(init)) or ex.evaluate(init, {}) in NORMAL_INITS
