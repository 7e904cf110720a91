"""Fetching the official archives (MD5-checked) and extracting tar files safely."""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from inceptgen.runtime.data.errors import DataError, one_line

__all__ = ["ARCHIVES", "Archive", "default_cache_dir", "download_archive", "download_cifar10", "safe_extract"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Archive:
    """An official dataset archive: where it is, its checksum, and what it unpacks to."""

    word: str
    url: str
    md5: str
    file_name: str
    extract_dir: str
    folder: str
    size: str


#: The datasets `--data` can name by a word, fetched with `--download`.
ARCHIVES: dict[str, Archive] = {
    "cifar10": Archive(
        "cifar10",
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a",
        "cifar-10-python.tar.gz",
        "cifar10",
        "cifar-10-batches-py",
        "163 MB",
    ),
    "cifar100": Archive(
        "cifar100",
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "eb9058c3a382ffc7106e4002c42a8d85",
        "cifar-100-python.tar.gz",
        "cifar100",
        "cifar-100-python",
        "161 MB",
    ),
}


def default_cache_dir() -> Path:
    """Return ``$INCEPTGEN_CACHE`` if set, else ``~/.cache/inceptgen``."""
    env = os.environ.get("INCEPTGEN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "inceptgen"


def download_cifar10(cache_dir: str | os.PathLike[str], url: str | None = None, md5: str | None = None) -> Path:
    """Download, verify and extract the CIFAR-10 archive (see :func:`download_archive`)."""
    return download_archive(cache_dir, ARCHIVES["cifar10"], url, md5)


def download_archive(
    cache_dir: str | os.PathLike[str], archive_info: Archive, url: str | None = None, md5: str | None = None
) -> Path:
    """Download, verify and extract an official dataset archive into a cache folder.

    The archive is streamed to a temporary file in ``cache_dir``, its MD5 is
    checked, and only then is it renamed to its official name; on any failure the
    temporary file is removed. An archive already present with the right MD5 is not
    downloaded again, and an existing extraction is reused.

    Args:
        cache_dir: folder for the archive and the extracted data.
        archive_info: which archive (an entry of :data:`ARCHIVES`).
        url: where to fetch it from (default: the official address).
        md5: expected hex MD5 (default: the official one).

    Returns:
        The extracted batch folder (``cifar-10-batches-py`` or ``cifar-100-python``).

    Raises:
        DataError: on a network or HTTP error, an MD5 mismatch, or an unsafe
            or unexpected archive.
    """
    url = url or archive_info.url
    md5 = md5 or archive_info.md5
    cache = Path(cache_dir).expanduser()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create cache folder {cache}: {exc.strerror}") from exc
    archive = cache / archive_info.file_name
    if not (archive.is_file() and _md5(archive) == md5.lower()):
        _download(url, archive, md5.lower())
    dest = cache / archive_info.extract_dir
    if not dest.exists():
        try:
            with tarfile.open(archive, "r:gz") as tar:
                safe_extract(tar, dest)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{archive}: cannot read archive ({one_line(exc)})") from exc
    batches_dir = dest / archive_info.folder
    if not batches_dir.is_dir():
        raise DataError(
            f"{dest}: no {archive_info.folder}/ after extracting {archive}",
            hint=f"delete {dest} and try again",
        )
    return batches_dir


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url: str, archive: Path, md5: str) -> None:
    fd, name = tempfile.mkstemp(dir=archive.parent, prefix=f".{archive.name}.", suffix=".part")
    part = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _fetch(url, out)
        if digest != md5:
            raise DataError(
                f"MD5 mismatch for {url}: expected {md5}, got {digest}",
                hint="the download is corrupt or the file changed; nothing was kept",
            )
        os.replace(part, archive)
    except (
        urllib.error.URLError,
        http.client.HTTPException,
        OSError,
        ValueError,
    ) as exc:
        if isinstance(exc, urllib.error.HTTPError):
            exc.close()  # it holds the open connection
        raise DataError(f"download of {url} failed: {one_line(exc)}") from exc
    finally:
        part.unlink(missing_ok=True)


def _fetch(url: str, out: io.BufferedWriter) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    received = 0
    with urllib.request.urlopen(url, timeout=60) as response:
        expected = response.headers.get("Content-Length")
        while chunk := response.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
            received += len(chunk)
    if expected is not None and expected.isdigit() and received != int(expected):
        raise DataError(f"download of {url} failed: connection closed after {received} of {expected} bytes")
    return digest.hexdigest()


def safe_extract(tar: tarfile.TarFile, dest: str | os.PathLike[str]) -> Path:
    """Extract a tar archive into a new folder, refusing anything unsafe.

    Every member is checked before anything is written: absolute paths,
    ``..`` components, paths resolving outside ``dest``, links, devices and
    FIFOs are rejected. Extraction then goes to a temporary sibling folder
    (with tarfile's ``data`` filter where available) which is renamed to
    ``dest`` atomically, so ``dest`` is either complete or absent.

    Args:
        tar: an open archive.
        dest: folder to create; must not exist yet.

    Returns:
        ``dest`` as a Path.

    Raises:
        DataError: on an unsafe member, an existing ``dest``, or a read error.
    """
    target = Path(dest)
    if target.exists():
        raise DataError(f"refusing to extract into {target}: it already exists")
    where = tar.name or "archive"
    try:
        members = tar.getmembers()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read {where}: {one_line(exc)}") from exc
    root = os.path.realpath(target)
    for member in members:
        _check_member(member, root, where)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        _extract_members(tar, tmp, members)
        os.replace(tmp, target)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot extract {where} into {target}: {one_line(exc)}") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _check_member(member: tarfile.TarInfo, root: str, where: str | os.PathLike[str]) -> None:
    name = member.name
    reason = _unsafe_reason(member, root)
    if reason:
        raise DataError(f"refusing to extract {name!r} from {where}: {reason}")


def _unsafe_reason(member: tarfile.TarInfo, root: str) -> str | None:
    name = member.name
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not name or "\x00" in name:
        return "empty or invalid name"
    if name.startswith(("/", "\\")) or PureWindowsPath(name).drive:
        return "absolute path"
    if ".." in parts:
        return "path leaves the destination (..)"
    resolved = os.path.realpath(os.path.join(root, name))
    if os.path.commonpath([resolved, root]) != root:
        return "path leaves the destination"
    if member.issym() or member.islnk():
        return "links are not allowed"
    if not (member.isfile() or member.isdir()):
        return "only regular files and directories are allowed"
    return None


def _extract_members(tar: tarfile.TarFile, tmp: Path, members: list[tarfile.TarInfo]) -> None:
    if hasattr(tarfile, "data_filter"):
        tar.extractall(tmp, members=members, filter="data")
    else:  # pragma: no cover - Python without extraction filters
        tar.extractall(tmp, members=members)
