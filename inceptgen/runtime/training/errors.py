"""The errors of training and evaluation (user errors: the CLI prints them on one line, exit 2)."""

from __future__ import annotations

from inceptgen.errors import InceptgenError

__all__ = ["TrainingError", "TrainingInterruptedError", "first_line"]


class TrainingError(InceptgenError):
    """Training or evaluation cannot proceed: bad settings, data that do not fit the model, a bad checkpoint."""


class TrainingInterruptedError(TrainingError):
    """Ctrl-C stopped training; the last finished epoch is saved and can be resumed."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text (frameworks write paragraphs)."""
    text = str(exc).strip()
    return " ".join(text.splitlines()[0].split())[:300] if text else type(exc).__name__
