"""The one error type of the data layer, and how foreign text enters a message."""

from __future__ import annotations

from inceptgen.errors import InceptgenError

__all__ = ["DataError", "one_line"]


class DataError(InceptgenError):
    """A dataset cannot be found, fetched, or read, or its content is invalid."""


def one_line(value: object, limit: int = 200) -> str:
    """`value` as text on one line, cut to `limit` characters (messages quote files and exceptions)."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
