"""Formatting files: which files an argument names, reading them safely, writing them atomically."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from inceptgen.fmt import format_text
from inceptgen.limits import Limits
from inceptgen.loader import decode, read_spec_bytes
from inceptgen.output import atomic_write

__all__ = ["Outcome", "spec_files", "format_file", "unified_diff"]

SUFFIX = ".incept"
BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Outcome:
    """What formatting one file found: its text before and after (equal when already formatted)."""

    path: Path
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def spec_files(arguments: Iterable[str]) -> Iterator[Path]:
    """The files the arguments name: each file as given, each directory's `*.incept` files (recursively,
    sorted, skipping hidden directories such as `.venv` and `.git`)."""
    for argument in arguments:
        path = Path(argument)
        if not path.is_dir():
            yield path  # a missing or unreadable path is reported when it is read
            continue
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            yield from (Path(root) / name for name in sorted(files) if name.endswith(SUFFIX))


def format_file(path: Path, write: bool, limits: Limits = Limits()) -> Outcome:
    """Format one file; with `write`, replace it (atomically) when its layout changes.

    Raises:
        InceptgenError: the file cannot be read, is not a spec the parser accepts (the file
            is then left as it was), or cannot be written.
        FormatterError: the formatted text would be another spec (the file is left as it was).
    """
    name = str(path)
    data = read_spec_bytes(path, limits)
    before = decode(data, name, limits)
    after = format_text(before, name, limits)
    if write and after != before:
        atomic_write(path, _as_stored(after, data))
    return Outcome(path, before, after)


def _as_stored(text: str, original: bytes) -> bytes:
    """`text` with the original file's line ends (CRLF or LF) and byte-order mark, as editors keep them."""
    if b"\r\n" in original:
        text = text.replace("\n", "\r\n")
    return (BOM if original.startswith(BOM) else b"") + text.encode("utf-8")


def unified_diff(outcome: Outcome) -> str:
    """The change formatting makes to a file, as `diff -u` shows it."""
    name = str(outcome.path)
    lines = difflib.unified_diff(
        outcome.before.splitlines(keepends=True), outcome.after.splitlines(keepends=True), name, name
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
