"""CIFAR-10 and CIFAR-100 in their official python layouts: a folder or the `.tar.gz` archive.

Batch files are pickles, read with the restricted unpickler (`inceptgen.runtime.data.unpickle`).
Every file's size is checked before it is read, archives are read member by member without
extracting anything, and arrays are checked against the format (uint8 rows of 3072 pixels,
one integer label per row) before anything is built from them.
"""

from __future__ import annotations

import os
import re
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from inceptgen.runtime.data.dataset import Dataset, Split
from inceptgen.runtime.data.errors import DataError, one_line
from inceptgen.runtime.data.unpickle import restricted_load

__all__ = ["CIFAR10", "CIFAR100", "CifarFormat", "is_cifar_dir", "load_cifar", "load_cifar10", "load_cifar100"]

_SIDE = 32
_ROW = 3 * _SIDE * _SIDE
#: The largest batch file read (CIFAR-100's `train` is 155 MB): a bigger one is refused unread.
MAX_BATCH_BYTES = 200 * 1024 * 1024
_MAX_CLASSES = 10_000


@dataclass(frozen=True)
class CifarFormat:
    """How one CIFAR variant names its folder, files and keys."""

    name: str
    folder: str
    meta: str
    class_names_key: str
    labels_key: str
    test: str
    train: re.Pattern[str]

    def is_batch(self, name: str) -> bool:
        return name in (self.meta, self.test) or self.train.fullmatch(name) is not None

    def train_names(self, names: set[str]) -> list[str]:
        found = [(_order(m), n) for n in names if (m := self.train.fullmatch(n))]
        return [n for _, n in sorted(found)]


def _order(match: re.Match[str]) -> int:
    return int(match.group(1)) if match.groups() and match.group(1) else 0


CIFAR10 = CifarFormat(
    "CIFAR-10",
    "cifar-10-batches-py",
    "batches.meta",
    "label_names",
    "labels",
    "test_batch",
    re.compile(r"data_batch_(\d+)"),
)
CIFAR100 = CifarFormat(
    "CIFAR-100", "cifar-100-python", "meta", "fine_label_names", "fine_labels", "test", re.compile(r"train()")
)
_FORMATS = (CIFAR10, CIFAR100)


# --------------------------------------------------------------------------
# where the batch files come from: a folder, or an archive read in one pass


class _Files:
    """The batch files of one source, unpickled (and so checked) as they are read."""

    def __init__(self, where: str, fmt: CifarFormat, in_archive: bool) -> None:
        self.where, self.fmt, self.in_archive = where, fmt, in_archive
        self.names: set[str] = set()
        self.dicts: dict[str, Any] = {}

    def label(self, name: str) -> str:
        return f"{self.where}:{self.fmt.folder}/{name}" if self.in_archive else f"{self.where}/{name}"

    def get(self, name: str) -> dict[Any, Any]:
        if name not in self.dicts:
            raise DataError(f"missing file {self.label(name)}")
        obj = self.dicts[name]
        if not isinstance(obj, dict):
            raise DataError(f"{self.label(name)}: expected a pickled dict, got {type(obj).__name__}")
        return obj


def _dir_files(root: Path, wanted: tuple[str, ...]) -> _Files:
    fmt, folder = _dir_format(root)
    files = _Files(str(folder), fmt, in_archive=False)
    files.names = {p.name for p in folder.iterdir() if fmt.is_batch(p.name)}
    for name in sorted(n for n in files.names if _wanted(fmt, n, wanted)):
        path = folder / name
        _check_size(path.stat().st_size if path.is_file() else -1, files.label(name))
        try:
            with path.open("rb") as stream:
                files.dicts[name] = restricted_load(stream, files.label(name))
        except OSError as exc:
            raise DataError(f"cannot read {files.label(name)}: {exc.strerror}") from None
    return files


def _dir_format(root: Path) -> tuple[CifarFormat, Path]:
    for fmt in _FORMATS:
        if (root / fmt.folder).is_dir():
            return fmt, root / fmt.folder
    for fmt in _FORMATS:
        if root.name == fmt.folder or (root / fmt.meta).is_file():
            return fmt, root
    return CIFAR10, root  # nothing recognisable: reported as CIFAR-10's missing files


def _tar_files(archive: Path, tar: tarfile.TarFile, wanted: tuple[str, ...]) -> _Files:
    """Read the batch members in one pass (gzip cannot seek back cheaply); sizes come from the headers."""
    files: _Files | None = None
    for member, fmt, name in _batch_members(tar):
        files = files or _Files(str(archive), fmt, in_archive=True)
        if fmt is not files.fmt:
            continue
        files.names.add(name)
        if not _wanted(fmt, name, wanted):
            continue
        _check_size(member.size if member.isfile() else -1, files.label(name))
        stream = tar.extractfile(member)  # yields the member's bytes and no more
        if stream is not None:
            with stream:
                files.dicts[name] = restricted_load(stream, files.label(name))
    return files or _Files(str(archive), CIFAR10, in_archive=True)


def _batch_members(tar: tarfile.TarFile) -> Iterator[tuple[tarfile.TarInfo, CifarFormat, str]]:
    for member in tar:
        parts = PurePosixPath(member.name).parts
        for fmt in _FORMATS:
            if parts and parts[:-1] in ((fmt.folder,), ()) and fmt.is_batch(parts[-1]):
                yield member, fmt, parts[-1]
                break


def _wanted(fmt: CifarFormat, name: str, wanted: tuple[str, ...]) -> bool:
    if name in (fmt.meta, fmt.test):
        return name != fmt.test or "test" in wanted
    return "train" in wanted


def _check_size(size: int, label: str) -> None:
    if size < 0:
        raise DataError(f"{label} is not a regular file")
    if size > MAX_BATCH_BYTES:
        raise DataError(
            f"{label} is {size:,} bytes, more than any CIFAR batch file ({MAX_BATCH_BYTES:,}); refusing to read it"
        )


# --------------------------------------------------------------------------
# the loaders


def load_cifar(path: str | os.PathLike[str], splits: tuple[str, ...] = ("train", "test")) -> Dataset:
    """Load CIFAR-10 or CIFAR-100 (detected from the layout) from a folder or the official archive.

    Args:
        path: a `cifar-10-batches-py` / `cifar-100-python` folder, a folder holding one,
            or the `.tar.gz` archive (read member by member; nothing is extracted).
        splits: which splits to read: ("train", "test"), or ("test",) for evaluation
            (a folder holding only the test batch and the meta file is then enough).

    Returns:
        The dataset, images uint8 (N, 3, 32, 32), labels int64 (CIFAR-100: the 100 fine labels).

    Raises:
        DataError: a missing path or file, an oversized file, a corrupt or malicious pickle,
            or arrays of the wrong keys, shapes, dtypes, counts or labels.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"CIFAR path {root} does not exist")
    if root.is_dir():
        return _dataset(_dir_files(root, splits), splits)
    try:
        with tarfile.open(root, "r:*") as tar:
            return _dataset(_tar_files(root, tar, splits), splits)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{root}: not a readable CIFAR archive ({one_line(exc)})") from None


def load_cifar10(path: str | os.PathLike[str], splits: tuple[str, ...] = ("train", "test")) -> Dataset:
    """Load CIFAR-10 (see :func:`load_cifar`); every `data_batch_*` present is used, in order."""
    dataset = load_cifar(path, splits)
    if dataset.name != CIFAR10.name:
        raise DataError(f"{path} holds {dataset.name}, not CIFAR-10")
    return dataset


def load_cifar100(path: str | os.PathLike[str], splits: tuple[str, ...] = ("train", "test")) -> Dataset:
    """Load CIFAR-100 with its 100 fine labels (see :func:`load_cifar`)."""
    dataset = load_cifar(path, splits)
    if dataset.name != CIFAR100.name:
        raise DataError(f"{path} holds {dataset.name}, not CIFAR-100")
    return dataset


def is_cifar_dir(root: Path) -> bool:
    """Whether `root` looks like a CIFAR folder (or holds one)."""
    if any(root.name == f.folder or (root / f.folder).is_dir() for f in _FORMATS):
        return True
    return any(p.name in ("batches.meta", "meta") or CIFAR10.train.fullmatch(p.name) for p in root.iterdir())


def _dataset(files: _Files, splits: tuple[str, ...]) -> Dataset:
    fmt, names = files.fmt, files.names
    train_names = fmt.train_names(names)
    if "train" in splits and not train_names:
        first, pattern = ("data_batch_1", "data_batch_*") if fmt is CIFAR10 else ("train", "train")
        raise DataError(f"missing file {files.label(first)}: no {pattern}")
    for required in (fmt.meta, *([fmt.test] if "test" in splits else [])):
        if required not in names:
            raise DataError(f"missing file {files.label(required)}")
    classes = _class_names(files)
    test = _batch(files, fmt.test, len(classes))
    train = None
    if "train" in splits:
        parts = [_batch(files, name, len(classes)) for name in train_names]
        train = Split(np.concatenate([p.labels for p in parts]), images=np.concatenate([p.images for p in parts]))
    return Dataset(classes, test, train, fmt.name)


def _field(obj: dict[Any, Any], key: str, label: str) -> Any:
    for candidate in (key.encode(), key):
        if candidate in obj:
            return obj[candidate]
    keys = ", ".join(sorted(repr(k) for k in obj))[:200]
    raise DataError(f"{label}: missing key {key!r} (keys: {one_line(keys)})")


def _class_names(files: _Files) -> tuple[str, ...]:
    label = files.label(files.fmt.meta)
    names = _field(files.get(files.fmt.meta), files.fmt.class_names_key, label)
    if not isinstance(names, list) or not names or len(names) > _MAX_CLASSES:
        raise DataError(f"{label}: {files.fmt.class_names_key!r} must be a non-empty list")
    out = []
    for name in names:
        if isinstance(name, bytes) and len(name) <= 200:
            name = name.decode("utf-8", errors="replace")
        if not isinstance(name, str) or len(name) > 200:
            raise DataError(f"{label}: bad class name (class names must be strings, got {type(name).__name__})")
        out.append(name)
    return tuple(out)


def _batch(files: _Files, name: str, n_classes: int) -> Split:
    label = files.label(name)
    obj = files.get(name)
    data = _field(obj, "data", label)
    if not (type(data) is np.ndarray and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == _ROW):
        raise DataError(f"{label}: 'data' must be a uint8 array of shape (N, {_ROW}), got {_describe(data)}")
    labels = _labels(_field(obj, files.fmt.labels_key, label), len(data), label)
    bad = labels[(labels < 0) | (labels >= n_classes)]
    if bad.size:
        raise DataError(f"{label}: label {bad[0]} out of range 0..{n_classes - 1}")
    return Split(labels, images=data.reshape(-1, 3, _SIDE, _SIDE))


def _labels(value: Any, rows: int, label: str) -> np.ndarray:
    """The labels, checked for count and type before any array is built from them."""
    if not isinstance(value, list | np.ndarray):
        raise DataError(f"{label}: 'labels' must be a list, got {type(value).__name__}")
    if len(value) != rows:
        raise DataError(f"{label}: {rows} images but {len(value)} labels")
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or value.dtype.kind not in "iu":
            raise DataError(f"{label}: 'labels' must be a flat list of ints, got {_describe(value)}")
        return value.astype(np.int64)
    if not all(type(v) is int for v in value):  # a memo reference to a big list would expand here
        raise DataError(f"{label}: 'labels' must be a flat list of ints")
    return np.asarray(value, dtype=np.int64)


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__
