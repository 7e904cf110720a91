"""One error type for everything a user can get wrong, each carrying a source span."""

from __future__ import annotations

from inceptgen.records import record

__all__ = [
    "Span",
    "InceptgenError",
    "SpecSyntaxError",
    "SpecNameError",
    "SpecArgumentError",
    "SpecShapeError",
    "SpecLimitError",
    "UnsupportedError",
    "SourceError",
]


@record
class Span:
    """A region of a spec file: 1-based line and column, end exclusive."""

    file: str
    line: int
    column: int
    end_line: int | None = None
    end_column: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class InceptgenError(Exception):
    """Root of every error inceptgen reports to a user (never a bug in inceptgen).

    Attributes:
        message: one line saying what is wrong, with the value received.
        span: where in a spec the problem is, when it comes from a spec.
        hint: one line saying what would be accepted instead.
    """

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint

    def __str__(self) -> str:
        where = f"{self.span}: " if self.span else ""
        return f"{where}error: {self.message}"


class SourceError(InceptgenError):
    """The spec file cannot be read as text (encoding, NUL bytes, size)."""


class SpecSyntaxError(InceptgenError):
    """The text does not follow the grammar."""


class SpecNameError(InceptgenError):
    """An unknown or duplicated name: layer, block, parameter, option, import."""


class SpecArgumentError(InceptgenError):
    """A wrong number, type or value of arguments or options."""


class SpecShapeError(InceptgenError):
    """Shapes do not fit: concat of different sizes, empty outputs, channel mismatch."""


class SpecLimitError(InceptgenError):
    """A spec exceeds a safety limit (repeat count, nesting depth, node count, ...)."""


class UnsupportedError(InceptgenError):
    """A target framework cannot express a node."""
