"""Atomic file output: a crash or Ctrl-C never leaves a truncated file behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from inceptgen.errors import InceptgenError

__all__ = ["atomic_path", "atomic_write_text"]


@contextlib.contextmanager
def atomic_path(path: Path, force: bool = True, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds.

    Args:
        path: the final file.
        force: replace an existing file; if False an existing file is an error.
        suffix: ending the temporary file needs (libraries that check extensions, e.g. `.weights.h5`).
    """
    path = Path(path)
    if path.exists() and not force:
        raise InceptgenError(f"{str(path)!r} exists; pass --force to replace it")
    if not path.parent.is_dir():
        raise InceptgenError(f"cannot write {str(path)!r}: directory {str(path.parent)!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
