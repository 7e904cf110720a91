"""Reading spec files and their imports: safely, each file once, within the limits.

A spec path may name anything: a FIFO, a device, a 30 GB file, a symlink loop. Files are
opened without blocking, refused unless regular, and read to at most the size limit
plus one byte. Imports are resolved relative to the importing file, loaded once each
(a diamond of imports reads the shared file once) and counted against a limit.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from inceptgen import syntax as sx
from inceptgen.errors import InceptgenError, SourceError, SpecLimitError, SpecNameError
from inceptgen.limits import Limits
from inceptgen.parse import parse

__all__ = ["Loader", "decode", "read_spec_bytes"]


def decode(data: bytes, file: str, limits: Limits = Limits()) -> str:
    """Bytes of a spec file -> text: UTF-8 with or without BOM; CRLF becomes LF.

    Raises:
        SourceError: the file is too large, holds NUL bytes or is not UTF-8 (with the byte offset).
    """
    if len(data) > limits.max_file_bytes:
        raise SourceError(
            f"{file}: spec is more than the limit of {limits.max_file_bytes:,} bytes",
            hint="specs are small text files; is this the right file?",
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        raise SourceError(f"{file}: NUL byte at byte offset {nul}: not a text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # utf-8-sig counts from after the BOM; the offset is into the file.
        offset = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        raise SourceError(f"{file}: invalid UTF-8 at byte offset {offset}", hint="save the spec as UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_spec_bytes(path: Path, limits: Limits = Limits()) -> bytes:
    """The bytes of a spec file: at most the size limit plus one (so that too large is known).

    Raises:
        SourceError: the path is not a readable regular file.
    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        reason = "a symlink loop" if exc.errno == errno.ELOOP else exc.strerror
        raise SourceError(f"cannot read spec {str(path)!r}: {reason}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):  # before fdopen, which refuses a directory with the descriptor as its name
        os.close(fd)
        what = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise SourceError(f"cannot read spec {str(path)!r}: {what}")
    with os.fdopen(fd, "rb") as f:
        try:
            return f.read(limits.max_file_bytes + 1)
        except OSError as exc:
            raise SourceError(f"cannot read spec {str(path)!r}: {exc.strerror}") from None


class Loader:
    """Reads a spec and its imports, refusing cycles, missing files and more imports than the limit."""

    def __init__(self, limits: Limits, resolve_stdlib: Callable[[str], Path] | None = None) -> None:
        self.limits = limits
        self.resolve_stdlib = resolve_stdlib
        self._stack: list[Path] = []
        self._loaded: set[Path] = set()
        self.hash = hashlib.sha256()

    def load_text(self, text: str, file: str) -> sx.Module:
        """Parse the main spec's text (already read)."""
        self.hash.update(text.encode("utf-8", "surrogatepass"))  # API text may hold lone surrogates
        return parse(text, file, self.limits)

    def load_path(self, path: Path) -> sx.Module:
        """Read and parse the main spec file."""
        text = decode(read_spec_bytes(path, self.limits), str(path), self.limits)
        self._loaded.add(path.resolve())
        return self.load_text(text, str(path))

    def load_import(self, item: sx.Import, importer: str) -> sx.Module | None:
        """The parsed file an import names, or None when it was loaded already."""
        path = self._resolve(item, importer)
        if path in self._stack:
            chain = " -> ".join(p.name for p in [*self._stack, path])
            raise SpecNameError(f"cyclic import: {chain}", item.span)
        if path in self._loaded:
            return None
        if len(self._stack) >= self.limits.max_depth:
            raise SpecLimitError(f"imports nested deeper than {self.limits.max_depth}", item.span)
        if len(self._loaded) >= self.limits.max_imports:
            raise SpecLimitError(f"more than {self.limits.max_imports} files imported", item.span)
        self._loaded.add(path)
        try:
            data = read_spec_bytes(path, self.limits)
        except SourceError as exc:
            raise SpecNameError(f"cannot import {item.path!r}: {exc.message.rpartition(': ')[2]}", item.span) from None
        return self.load_text(decode(data, str(path), self.limits), str(path))

    def _resolve(self, item: sx.Import, importer: str) -> Path:
        if item.path.startswith("@"):
            if self.resolve_stdlib is None:
                raise SpecNameError(f"no spec library to import {item.path!r} from", item.span)
            try:
                return self.resolve_stdlib(item.path[1:]).resolve()
            except InceptgenError as exc:
                raise SpecNameError(f"cannot import {item.path!r}: {exc.message}", item.span, exc.hint) from None
        if not item.path.endswith(".incept"):
            # Never parse (and so never quote in an error) a file that is not a spec.
            raise SpecNameError(f"cannot import {item.path!r}: not a .incept file", item.span)
        base = Path(importer).parent if not importer.startswith("<") else Path.cwd()
        try:
            path = (base / item.path).resolve()
        except (OSError, RuntimeError):  # a symlink loop
            raise SpecNameError(f"cannot import {item.path!r}: a symlink loop", item.span) from None
        if not path.is_file():
            raise SpecNameError(f"cannot import {item.path!r}: no such file {str(path)!r}", item.span)
        return path

    @contextmanager
    def entered(self, file: str) -> Iterator[None]:
        """While lowering `file`: imports it reaches that import it again are cycles."""
        self._stack.append(Path(file).resolve() if not file.startswith("<") else Path(file))
        try:
            yield
        finally:
            self._stack.pop()
