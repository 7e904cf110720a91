"""`@record`: a frozen dataclass whose `__repr__`, `__eq__` and `__hash__` are shared by all.

`dataclasses` writes each method of a class as source text and compiles it, six per frozen
class: on Python 3.11 about 0.8 ms a class. The syntax tree, expressions, IR, vocabulary,
limits, targets and checked nodes have 63 classes, and `inceptgen check` spent 55 of its 140 ms
past the libraries' imports compiling their methods. Three of the six are the same for every class
once it knows its field names, so they are written once here and behave as the generated
ones do: `Name(field=value, ...)` (fields with `repr=False` left out), equal when of the same
class with equal fields (those with `compare=False` left out), hashed by the tuple of fields
compared. `__init__` and the frozen `__setattr__` and `__delattr__` are still the dataclass's
own (they must be, to stay fast and frozen), as are `fields`, `replace` and pickling.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any, TypeVar

__all__ = ["record"]

T = TypeVar("T", bound=type)


def record(cls: T) -> T:
    """`@dataclass(frozen=True)`, with the shared `__repr__`, `__eq__` and `__hash__` below."""
    cls = dataclass(frozen=True, repr=False, eq=False)(cls)
    cls._record_names = tuple(f.name for f in fields(cls) if f.repr)
    names = tuple(f.name for f in fields(cls) if f.compare)
    # attrgetter of one name gives the value itself, not a 1-tuple (and of none, an error).
    one_by_one = staticmethod(lambda self: tuple(getattr(self, name) for name in names))
    cls._record_values = attrgetter(*names) if len(names) > 1 else one_by_one
    cls.__repr__ = _repr
    cls.__eq__ = _eq
    cls.__hash__ = _hash
    return cls


def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._record_names)
    return f"{type(self).__qualname__}({shown})"


def _eq(self: Any, other: object) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return self._record_values(self) == other._record_values(other)


def _hash(self: Any) -> int:
    return hash(self._record_values(self))
