"""Safe outputs: atomic writes, and no overwriting of files inceptgen did not generate.

Every file inceptgen writes goes through a temporary file in the destination's own
directory, flushed to disk and then renamed over the destination (`os.replace`), so a
crash, an exception or Ctrl-C part-way leaves either the old file or the new one, never
a truncated mix.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from inceptgen.errors import InceptgenError

__all__ = ["atomic_path", "atomic_write", "is_generated", "write_generated"]

# Every writer of the project goes through here: `compile -o`, training checkpoints and
# metrics, and `convert`.


_SPECIAL = {
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


def _destination(path: str | os.PathLike[str]) -> Path:
    """The file to replace: a symlink's target, so the link itself survives.

    Only regular files are replaced: renaming a new file over `/dev/null`, a FIFO or a
    socket would destroy the node (0.1 did, taking a zero-size device for an empty file).
    """
    dest = Path(path)
    if dest.is_symlink():
        dest = Path(os.path.realpath(dest))
    if dest.is_dir():
        raise InceptgenError(f"cannot write {str(path)!r}: it is a directory")
    try:
        mode = dest.stat().st_mode
    except OSError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        what = _SPECIAL.get(stat.S_IFMT(mode), "not a regular file")
        raise InceptgenError(
            f"cannot write {str(path)!r}: it is {what}", hint="write to a regular file, or leave out -o for stdout"
        )
    if not dest.parent.is_dir():
        raise InceptgenError(
            f"cannot write {str(path)!r}: no directory {str(dest.parent)!r}", hint="create the directory first"
        )
    return dest


def _new_file_mode(dest: Path) -> int:
    """The old file's permissions, or what `open()` would give a new file (0o666 less the umask)."""
    try:
        return dest.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success it replaces `path` atomically.

    For writers that insist on a file name (`torch.save`, `keras.Model.save_weights`):
    the temporary name ends with `suffix`, by default the destination's own (Keras wants
    `.weights.h5`, two of them). If the body raises, the temporary file is removed and
    `path` is untouched.

    Raises:
        InceptgenError: `path` is a directory, its directory does not exist, or it cannot be written.
    """
    dest = _destination(path)
    try:
        fd, tmp_name = tempfile.mkstemp(
            dir=dest.parent, prefix=f".{dest.name}.", suffix=f".tmp{dest.suffix if suffix is None else suffix}"
        )
    except OSError as exc:
        raise InceptgenError(f"cannot write {str(path)!r}: {exc.strerror}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _new_file_mode(dest))
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write `data` (text is UTF-8 encoded) to `path` atomically and durably.

    Raises:
        InceptgenError: the file cannot be written; `path` is then unchanged.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_path(path) as tmp:
        try:
            with open(tmp, "wb") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:  # ENOSPC and friends: the old file stays
            raise InceptgenError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None


def is_generated(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is a file inceptgen generated: its first line starts with the header mark."""
    from inceptgen.emit.render import HEADER_MARK

    mark = HEADER_MARK.encode("utf-8")
    try:
        with open(path, "rb") as f:
            return f.read(len(mark)) == mark
    except OSError:
        return False


def write_generated(path: str | os.PathLike[str], text: str, force: bool = False) -> None:
    """Write generated source to `path` atomically, refusing to clobber a file inceptgen did not write.

    An existing file may be replaced when it is empty or starts with inceptgen's header
    mark (`inceptgen.emit.render.HEADER_MARK`); any other file only with `force`.

    Raises:
        InceptgenError: `path` holds a file inceptgen did not generate (and not `force`),
            or it cannot be written. Either way the old file is left as it was.
    """
    dest = Path(path)
    if not force and dest.exists() and not dest.is_dir() and dest.stat().st_size > 0 and not is_generated(dest):
        raise InceptgenError(
            f"refusing to overwrite {str(path)!r}: it was not generated by inceptgen",
            hint="pass --force to overwrite it anyway",
        )
    atomic_write(dest, text)
