"""What a spec means to the parser, without its positions: the formatter's invariant."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from inceptgen.errors import Span

__all__ = ["without_positions"]

#: Fields that say where something was written, not what it is.
_POSITION_FIELDS = frozenset({"span", "after_span"})


def without_positions(value: Any) -> Any:
    """A comparable copy of a syntax tree or IR value with every span left out.

    Two texts the formatter considers the same spec have equal results here for their
    `inceptgen.parse.parse` trees (and for their lowered IR, whose warnings hold bare spans).
    """
    if isinstance(value, Span):
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = [f.name for f in dataclasses.fields(value) if f.name not in _POSITION_FIELDS]
        kept = tuple((name, without_positions(getattr(value, name))) for name in names)
        return (type(value).__name__, kept)
    if isinstance(value, Mapping):
        return ("mapping", tuple((key, without_positions(item)) for key, item in value.items()))
    if isinstance(value, tuple | list):
        return tuple(without_positions(item) for item in value)
    return value
