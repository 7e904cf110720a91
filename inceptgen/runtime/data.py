"""Image-classification data for training generated CNNs, as plain numpy arrays.

Both the PyTorch and the Keras training loops get their data from here, so they
see identical arrays: images are ``uint8`` NCHW until :func:`normalize` turns a
batch into ``float32``; labels are ``int64``.

Sources:

* CIFAR-10 in the official python layout (``cifar-10-batches-py/``), a folder
  holding it, or the ``cifar-10-python.tar.gz`` archive (read in memory).
  Batch pickles are read with a restricted unpickler that only rebuilds numpy
  arrays, since a pickle can otherwise run arbitrary code.
* An image folder ``root/train/<class>/*.png`` and ``root/test/<class>/*.png``
  (needs Pillow).
* The word ``cifar10``: the official archive, cached in ``$INCEPTGEN_CACHE`` or
  ``~/.cache/inceptgen`` and downloaded on request with MD5 verification.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import pickle
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

from inceptgen.errors import InceptgenError

__all__ = [
    "CIFAR10_MD5",
    "CIFAR10_URL",
    "DataError",
    "Dataset",
    "augment",
    "balanced_subset",
    "batches",
    "channel_stats",
    "default_cache_dir",
    "download_cifar10",
    "load_cifar10",
    "load_image_folder",
    "normalize",
    "resolve_data",
    "safe_extract",
    "to_nhwc",
]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"

_BATCH_DIR = "cifar-10-batches-py"
_ARCHIVE_NAME = "cifar-10-python.tar.gz"
_EXTRACT_DIR = "cifar10"
_IMAGE_SIDE = 32
_ROW_LENGTH = 3 * _IMAGE_SIDE * _IMAGE_SIDE
_TRAIN_BATCH = re.compile(r"data_batch_(\d+)")
_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".ppm", ".tif", ".tiff"})
_PAD = 4
_CHUNK = 1 << 20


class DataError(InceptgenError):
    """A dataset cannot be found, fetched, or read, or its content is invalid."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split of labelled images.

    Attributes:
        x_train: uint8 images, shape (N, 3, H, W).
        y_train: int64 labels, shape (N,), in ``0..len(classes)-1``.
        x_test: uint8 images, shape (M, 3, H, W).
        y_test: int64 labels, shape (M,).
        classes: class names; label ``i`` names ``classes[i]``.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        for split, x, y in (
            ("train", self.x_train, self.y_train),
            ("test", self.x_test, self.y_test),
        ):
            _check_split(split, x, y, len(self.classes))
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DataError(
                f"train images {self.x_train.shape[1:]} and test images {self.x_test.shape[1:]} differ in shape"
            )

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """Shape (C, H, W) of one image."""
        c, h, w = self.x_train.shape[1:]
        return int(c), int(h), int(w)


def _check_split(split: str, x: np.ndarray, y: np.ndarray, n_classes: int) -> None:
    if not (isinstance(x, np.ndarray) and x.dtype == np.uint8 and x.ndim == 4):
        raise DataError(f"{split} images must be a uint8 array (N, C, H, W)")
    if x.shape[1] != 3:
        raise DataError(f"{split} images have {x.shape[1]} channels, expected 3")
    if not (isinstance(y, np.ndarray) and y.dtype == np.int64 and y.ndim == 1):
        raise DataError(f"{split} labels must be an int64 array (N,)")
    if len(x) != len(y):
        raise DataError(f"{split} split has {len(x)} images but {len(y)} labels")
    if len(x) == 0:
        raise DataError(f"{split} split has no images")
    if y.min() < 0 or y.max() >= n_classes:
        raise DataError(f"{split} labels outside 0..{n_classes - 1}")


def _one_line(value: object) -> str:
    return " ".join(str(value).split())


# --------------------------------------------------------------------------
# restricted unpickling


def _numpy_reconstruct() -> Any:
    # The function numpy's own pickles name, wherever this numpy keeps it,
    # without importing the deprecated ``numpy.core`` alias.
    return np.ndarray.__reduce__(np.zeros(0))[0]


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler that can only rebuild numpy arrays and plain containers."""

    def __init__(self, raw: bytes, label: str) -> None:
        super().__init__(io.BytesIO(raw), encoding="bytes")
        self._label = label

    def find_class(self, module: str, name: str) -> Any:
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise DataError(
                f"refusing to unpickle {_one_line(module)}.{_one_line(name)} "
                f"from {self._label}: not part of a CIFAR batch"
            )
        return allowed

    def persistent_load(self, pid: Any) -> Any:
        raise DataError(f"refusing to unpickle a persistent id from {self._label}: not part of a CIFAR batch")


def _unpickle(raw: bytes, label: str) -> Any:
    try:
        return _CifarUnpickler(raw, label).load()
    except DataError:
        raise
    except Exception as exc:  # any failure inside pickle means a bad file
        raise DataError(f"{label}: corrupt or truncated pickle ({type(exc).__name__}: {_one_line(exc)})") from exc


# --------------------------------------------------------------------------
# CIFAR-10 sources: a directory or a tar archive


class _DirSource:
    def __init__(self, root: Path) -> None:
        self.root = root

    def names(self) -> set[str]:
        return {p.name for p in self.root.iterdir() if p.is_file()}

    def label(self, name: str) -> str:
        return str(self.root / name)

    def read(self, name: str) -> bytes:
        try:
            return (self.root / name).read_bytes()
        except OSError as exc:
            raise DataError(f"cannot read {self.label(name)}: {exc.strerror}") from exc


class _TarSource:
    """The batch files of an archive, read in one sequential pass (gzip cannot seek back cheaply)."""

    def __init__(self, archive: Path, tar: tarfile.TarFile) -> None:
        self.archive = archive
        self.files: dict[str, bytes] = {}
        for member in tar:
            parts = PurePosixPath(member.name).parts
            if member.isfile() and parts[:-1] in ((_BATCH_DIR,), ()) and _is_batch_name(parts[-1]):
                stream = tar.extractfile(member)
                if stream is not None:
                    with stream:
                        self.files[parts[-1]] = stream.read()

    def names(self) -> set[str]:
        return set(self.files)

    def label(self, name: str) -> str:
        return f"{self.archive}:{_BATCH_DIR}/{name}"

    def read(self, name: str) -> bytes:
        return self.files[name]


def _is_batch_name(name: str) -> bool:
    return name in ("batches.meta", "test_batch") or _TRAIN_BATCH.fullmatch(name) is not None


_Source = _DirSource | _TarSource


def load_cifar10(path: str | os.PathLike[str]) -> Dataset:
    """Load CIFAR-10 from its official python distribution.

    Args:
        path: a ``cifar-10-batches-py`` directory, a directory containing one,
            or the ``cifar-10-python.tar.gz`` archive (read in memory, nothing
            is extracted). Every ``data_batch_*`` present is used, in order.

    Returns:
        The dataset, images uint8 (N, 3, 32, 32), labels int64.

    Raises:
        DataError: on a missing path or file, a corrupt or malicious pickle,
            or arrays of the wrong keys, shapes, dtypes, counts or labels.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"CIFAR-10 path {root} does not exist")
    if root.is_dir():
        return _load_source(_DirSource(_cifar_batch_dir(root)))
    try:
        with tarfile.open(root, "r:*") as tar:
            return _load_source(_TarSource(root, tar))
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{root}: not a readable CIFAR-10 archive ({_one_line(exc)})") from exc


def _cifar_batch_dir(root: Path) -> Path:
    if (root / _BATCH_DIR).is_dir():
        return root / _BATCH_DIR
    return root


def _is_cifar_dir(root: Path) -> bool:
    if root.name == _BATCH_DIR or (root / _BATCH_DIR).is_dir():
        return True
    return any(p.name == "batches.meta" or _TRAIN_BATCH.fullmatch(p.name) for p in root.iterdir())


def _train_batch_names(names: set[str]) -> list[str]:
    found = [(int(m.group(1)), n) for n in names if (m := _TRAIN_BATCH.fullmatch(n))]
    return [n for _, n in sorted(found)]


def _load_source(src: _Source) -> Dataset:
    names = src.names()
    train_names = _train_batch_names(names)
    if not train_names:
        raise DataError(f"missing file {src.label('data_batch_1')}: no data_batch_*")
    for required in ("batches.meta", "test_batch"):
        if required not in names:
            raise DataError(f"missing file {src.label(required)}")
    classes = _read_meta(src)
    train = [_read_batch(src, name, len(classes)) for name in train_names]
    x_test, y_test = _read_batch(src, "test_batch", len(classes))
    return Dataset(
        x_train=np.concatenate([x for x, _ in train]),
        y_train=np.concatenate([y for _, y in train]),
        x_test=x_test,
        y_test=y_test,
        classes=classes,
    )


def _field(obj: dict[Any, Any], key: str, label: str) -> Any:
    for candidate in (key.encode(), key):
        if candidate in obj:
            return obj[candidate]
    raise DataError(f"{label}: missing key {key!r} (keys: {_keys(obj)})")


def _keys(obj: dict[Any, Any]) -> str:
    return ", ".join(sorted(repr(k) for k in obj))[:200]


def _load_dict(src: _Source, name: str) -> dict[Any, Any]:
    label = src.label(name)
    obj = _unpickle(src.read(name), label)
    if not isinstance(obj, dict):
        raise DataError(f"{label}: expected a pickled dict, got {type(obj).__name__}")
    return obj


def _read_meta(src: _Source) -> tuple[str, ...]:
    label = src.label("batches.meta")
    names = _field(_load_dict(src, "batches.meta"), "label_names", label)
    if not isinstance(names, list) or not names:
        raise DataError(f"{label}: 'label_names' must be a non-empty list")
    try:
        return tuple(n.decode() if isinstance(n, bytes) else _as_str(n) for n in names)
    except (UnicodeDecodeError, TypeError) as exc:
        raise DataError(f"{label}: bad class name ({_one_line(exc)})") from exc


def _as_str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"class names must be strings, got {type(value).__name__}")
    return value


def _read_batch(src: _Source, name: str, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    label = src.label(name)
    obj = _load_dict(src, name)
    data = _field(obj, "data", label)
    if not (type(data) is np.ndarray and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == _ROW_LENGTH):
        raise DataError(f"{label}: 'data' must be a uint8 array of shape (N, {_ROW_LENGTH}), got {_describe(data)}")
    labels = _labels(_field(obj, "labels", label), label)
    if len(labels) != len(data):
        raise DataError(f"{label}: {len(data)} images but {len(labels)} labels")
    bad = labels[(labels < 0) | (labels >= n_classes)]
    if bad.size:
        raise DataError(f"{label}: label {bad[0]} out of range 0..{n_classes - 1}")
    images = data.reshape(-1, 3, _IMAGE_SIDE, _IMAGE_SIDE)
    return images, labels


def _labels(value: Any, label: str) -> np.ndarray:
    if not isinstance(value, list | np.ndarray):
        raise DataError(f"{label}: 'labels' must be a list, got {type(value).__name__}")
    try:
        labels = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{label}: 'labels' is not a flat list of ints") from exc
    if labels.size == 0:
        return np.zeros(0, np.int64)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(f"{label}: 'labels' must be a flat list of ints, got {_describe(labels)}")
    return labels.astype(np.int64)


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__


# --------------------------------------------------------------------------
# image folders


def load_image_folder(path: str | os.PathLike[str], image_size: int | tuple[int, int] | None = None) -> Dataset:
    """Load ``root/train/<class>/*`` and ``root/test/<class>/*`` images.

    Class names are the sorted sub-folder names of ``train/``; ``test/`` may use
    a subset of them. Images are converted to RGB with Pillow.

    Args:
        path: the root folder holding ``train/`` and ``test/``.
        image_size: resize every image to this side (int) or (height, width);
            when None every image must already have the same size.

    Returns:
        The dataset, images uint8 (N, 3, H, W), labels int64.

    Raises:
        DataError: if Pillow is missing, a split or class has no images, an
            image cannot be read, or sizes differ without ``image_size``.
    """
    root = Path(path).expanduser()
    size = _size_hw(image_size)
    train_dir, test_dir = root / "train", root / "test"
    for split_dir in (train_dir, test_dir):
        if not split_dir.is_dir():
            raise DataError(f"image folder {root}: missing directory {split_dir}")
    classes = tuple(sorted(p.name for p in train_dir.iterdir() if _visible_dir(p)))
    if not classes:
        raise DataError(f"image folder {train_dir}: no class sub-folders")
    x_train, y_train = _read_split(train_dir, classes, size, require_all=True)
    x_test, y_test = _read_split(test_dir, classes, size, require_all=False)
    if size is None and x_train.shape[2:] != x_test.shape[2:]:
        raise DataError(
            f"image folder {root}: train and test images differ in size "
            f"({x_train.shape[2]}x{x_train.shape[3]} and "
            f"{x_test.shape[2]}x{x_test.shape[3]})",
            hint="pass image_size to resize all images",
        )
    return Dataset(x_train, y_train, x_test, y_test, classes)


def _size_hw(image_size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    if h < 1 or w < 1:
        raise DataError(f"image_size must be positive, got {image_size}")
    return int(h), int(w)


def _visible_dir(path: Path) -> bool:
    return path.is_dir() and not path.name.startswith(".")


def _image_files(class_dir: Path) -> list[Path]:
    return sorted(
        p
        for p in class_dir.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in _IMAGE_SUFFIXES
    )


def _read_split(
    split_dir: Path,
    classes: tuple[str, ...],
    size: tuple[int, int] | None,
    require_all: bool,
) -> tuple[np.ndarray, np.ndarray]:
    present = sorted(p.name for p in split_dir.iterdir() if _visible_dir(p))
    unknown = sorted(set(present) - set(classes))
    if unknown:
        raise DataError(f"{split_dir / unknown[0]}: class not present in train/")
    images: list[np.ndarray] = []
    labels: list[int] = []
    for index, name in enumerate(classes):
        files = _image_files(split_dir / name) if name in present else []
        if require_all and not files:
            raise DataError(f"{split_dir / name}: no images")
        for file in files:
            images.append(_read_image(file, size))
            _check_same_size(images[0], images[-1], file)
        labels.extend([index] * len(files))
    if not images:
        raise DataError(f"{split_dir}: no images")
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def _check_same_size(first: np.ndarray, image: np.ndarray, file: Path) -> None:
    if image.shape != first.shape:
        raise DataError(
            f"{file}: image is {image.shape[1]}x{image.shape[2]} but earlier images "
            f"are {first.shape[1]}x{first.shape[2]}",
            hint="pass image_size to resize all images to one size",
        )


def _read_image(file: Path, size: tuple[int, int] | None) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError as exc:
        raise DataError("reading an image folder needs Pillow", hint="pip install pillow") from exc
    try:
        with Image.open(file) as image:
            rgb = image.convert("RGB")
        if size is not None and rgb.size != (size[1], size[0]):
            rgb = rgb.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        array = np.asarray(rgb, dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{file}: cannot read image ({_one_line(exc)})") from exc
    return np.ascontiguousarray(array.transpose(2, 0, 1))


# --------------------------------------------------------------------------
# download and safe extraction


def default_cache_dir() -> Path:
    """Return ``$INCEPTGEN_CACHE`` if set, else ``~/.cache/inceptgen``."""
    env = os.environ.get("INCEPTGEN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "inceptgen"


def download_cifar10(cache_dir: str | os.PathLike[str], url: str = CIFAR10_URL, md5: str = CIFAR10_MD5) -> Path:
    """Download, verify and extract the CIFAR-10 archive into a cache folder.

    The archive is streamed to a temporary file in ``cache_dir``, its MD5 is
    checked, and only then is it renamed to ``cifar-10-python.tar.gz``; on any
    failure the temporary file is removed. An archive already present with the
    right MD5 is not downloaded again, and an existing extraction is reused.

    Args:
        cache_dir: folder for the archive and the extracted data.
        url: where to fetch the archive from.
        md5: expected hex MD5 of the archive.

    Returns:
        The extracted ``cifar-10-batches-py`` directory.

    Raises:
        DataError: on a network or HTTP error, an MD5 mismatch, or an unsafe
            or unexpected archive.
    """
    cache = Path(cache_dir).expanduser()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create cache folder {cache}: {exc.strerror}") from exc
    archive = cache / _ARCHIVE_NAME
    if not (archive.is_file() and _md5(archive) == md5.lower()):
        _download(url, archive, md5.lower())
    dest = cache / _EXTRACT_DIR
    if not dest.exists():
        try:
            with tarfile.open(archive, "r:gz") as tar:
                safe_extract(tar, dest)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{archive}: cannot read archive ({_one_line(exc)})") from exc
    batches_dir = dest / _BATCH_DIR
    if not batches_dir.is_dir():
        raise DataError(
            f"{dest}: no {_BATCH_DIR}/ after extracting {archive}",
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
        raise DataError(f"download of {url} failed: {_one_line(exc)}") from exc
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
        raise DataError(f"cannot read {where}: {_one_line(exc)}") from exc
    root = os.path.realpath(target)
    for member in members:
        _check_member(member, root, where)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        _extract_members(tar, tmp, members)
        os.replace(tmp, target)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot extract {where} into {target}: {_one_line(exc)}") from exc
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


# --------------------------------------------------------------------------
# resolving a --data argument


def resolve_data(spec: str, download: bool = False, cache_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """Load a dataset named on the command line.

    Args:
        spec: the word ``cifar10`` (the cached official archive), or a path to
            a CIFAR-10 folder, a ``cifar-10-python.tar.gz`` archive, or an
            image folder with ``train/`` and ``test/`` (detected from the
            layout). Write ``./cifar10`` for a local folder of that name.
        download: for ``cifar10``, fetch the archive if it is not cached.
        cache_dir: cache folder for ``cifar10``; default
            :func:`default_cache_dir`.

    Returns:
        The loaded dataset.

    Raises:
        DataError: if the data is missing, not recognised, or invalid.
    """
    if spec == "cifar10":
        cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        return _cached_cifar10(cache, download)
    path = Path(spec).expanduser()
    if not path.exists():
        raise DataError(
            f"dataset {spec!r} not found",
            hint="give a CIFAR-10 folder or archive, an image folder, or the word cifar10",
        )
    if path.is_file() or _is_cifar_dir(path):
        return load_cifar10(path)
    if (path / "train").is_dir():
        return load_image_folder(path)
    raise DataError(
        f"{path}: not a CIFAR-10 folder ({_BATCH_DIR}/, batches.meta) nor an image "
        "folder (train/<class>/, test/<class>/)"
    )


def _cached_cifar10(cache: Path, download: bool) -> Dataset:
    batches_dir = cache / _EXTRACT_DIR / _BATCH_DIR
    if batches_dir.is_dir():
        return load_cifar10(batches_dir)
    if not download:
        archive = cache / _ARCHIVE_NAME
        if archive.is_file():
            return load_cifar10(archive)
        raise DataError(
            f"CIFAR-10 is not in the cache {cache}",
            hint="pass --download to fetch it (about 163 MB), or give a path",
        )
    return load_cifar10(download_cifar10(cache, url=CIFAR10_URL, md5=CIFAR10_MD5))


# --------------------------------------------------------------------------
# array helpers


def balanced_subset(x: np.ndarray, y: np.ndarray, limit: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Take a class-balanced subset of at most ``limit`` examples.

    Each class present in ``y`` contributes ``limit // n_classes`` examples (or
    all it has, if fewer): the first ones of a permutation seeded by ``seed``.
    The subset keeps the original order of the examples.

    Args:
        x: examples, first axis indexed like ``y``.
        y: integer labels (N,).
        limit: maximum number of examples, or None for everything.
        seed: seed of the permutation.

    Returns:
        ``(x_subset, y_subset)``; ``(x, y)`` themselves when ``limit`` is None.

    Raises:
        DataError: if ``limit`` is smaller than the number of classes.
    """
    if limit is None:
        return x, y
    classes = np.unique(y)
    if limit < len(classes):
        raise DataError(
            f"limit {limit} is smaller than the number of classes ({len(classes)})",
            hint=f"use a limit of at least {len(classes)}",
        )
    per_class = limit // len(classes)
    order = np.random.default_rng(seed).permutation(len(y))
    shuffled = y[order]
    picked = np.concatenate([order[shuffled == c][:per_class] for c in classes])
    picked.sort()
    return x[picked], y[picked]


def channel_stats(x_uint8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and (population) std of uint8 NCHW images, on a 0..1 scale.

    Computed exactly from per-channel histograms, without a float copy of
    the whole array.

    Args:
        x_uint8: uint8 images (N, C, H, W), normally the training split.

    Returns:
        ``(mean, std)``, each float32 of shape (C,).
    """
    x = _require_uint8(x_uint8)
    levels = np.arange(256, dtype=np.float64) / 255.0
    means, stds = [], []
    for c in range(x.shape[1]):
        counts = np.bincount(x[:, c].ravel(), minlength=256).astype(np.float64)
        total = counts.sum()
        mean = counts @ levels / total
        var = counts @ (levels - mean) ** 2 / total
        means.append(mean)
        stds.append(np.sqrt(var))
    return np.asarray(means, np.float32), np.asarray(stds, np.float32)


def _require_uint8(x: np.ndarray) -> np.ndarray:
    if not (isinstance(x, np.ndarray) and x.dtype == np.uint8 and x.ndim == 4):
        raise ValueError(f"expected uint8 images (N, C, H, W), got {_describe(x)}")
    if x.shape[0] == 0:
        raise ValueError("expected at least one image")
    return x


def normalize(x_uint8: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Scale uint8 NCHW images to 0..1, then standardise each channel.

    Args:
        x_uint8: uint8 images (N, C, H, W).
        mean: per-channel mean (C,) on the 0..1 scale.
        std: per-channel std (C,) on the 0..1 scale, all positive.

    Returns:
        float32 images (N, C, H, W): ``(x / 255 - mean) / std``.
    """
    x = _require_uint8(x_uint8)
    m = np.asarray(mean, np.float32).reshape(-1, 1, 1)
    s = np.asarray(std, np.float32).reshape(-1, 1, 1)
    if m.shape[0] != x.shape[1] or s.shape[0] != x.shape[1]:
        raise ValueError(f"mean/std need {x.shape[1]} values, got {m.shape[0]} and {s.shape[0]}")
    if not np.all(s > 0):
        raise ValueError(f"std must be positive, got {s.ravel()}")
    out = x.astype(np.float32)
    out *= np.float32(1.0 / 255.0)
    out -= m
    out /= s
    return out


def augment(x_float_nchw: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Standard CIFAR augmentation: zero-pad 4, random crop, random h-flip.

    Draws, in this order: row offsets ``rng.integers(0, 9, N)``, column offsets
    ``rng.integers(0, 9, N)``, flips ``rng.random(N) < 0.5``; so the result is
    deterministic given the generator's state.

    Args:
        x_float_nchw: images (N, C, H, W), normally normalised float32 (the
            zero padding then equals the mean colour).
        rng: the random generator.

    Returns:
        A new array of the same shape and dtype.
    """
    x = x_float_nchw
    if x.ndim != 4:
        raise ValueError(f"expected images (N, C, H, W), got shape {x.shape}")
    n, c, h, w = x.shape
    padded = np.zeros((n, c, h + 2 * _PAD, w + 2 * _PAD), dtype=x.dtype)
    padded[:, :, _PAD : _PAD + h, _PAD : _PAD + w] = x
    dy = rng.integers(0, 2 * _PAD + 1, n)
    dx = rng.integers(0, 2 * _PAD + 1, n)
    flip = rng.random(n) < 0.5
    windows = np.lib.stride_tricks.sliding_window_view(padded, (h, w), axis=(2, 3))
    out = windows[np.arange(n), :, dy, dx]  # (N, C, H, W), a copy
    out[flip] = out[flip, :, :, ::-1]
    return out


def batches(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    rng: np.random.Generator | None = None,
    augment_fn: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
    *,
    mean: np.ndarray | None = None,
    std: np.ndarray | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Iterate over mini-batches, the last one possibly smaller.

    Args:
        x: images (N, C, H, W): float (passed on as float32) or uint8
            (normalised per batch with ``mean``/``std``, default just /255).
        y: integer labels (N,).
        batch_size: examples per batch, at least 1.
        rng: shuffle with this generator; None keeps the order.
        augment_fn: called as ``augment_fn(x_batch, rng)`` on every float32
            batch (for example :func:`augment`); needs ``rng``.
        mean: per-channel mean for uint8 input.
        std: per-channel std for uint8 input.

    Returns:
        A generator of ``(x_batch float32 NCHW, y_batch int64)``.

    Raises:
        ValueError: on a bad batch size, mismatched lengths, ``augment_fn``
            without ``rng``, or ``mean``/``std`` with float input.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    if augment_fn is not None and rng is None:
        raise ValueError("augment_fn needs an rng")
    if x.dtype != np.uint8 and (mean is not None or std is not None):
        raise ValueError("mean/std only apply to uint8 images")
    return _batch_iter(x, y, batch_size, rng, augment_fn, mean, std)


def _batch_iter(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    rng: np.random.Generator | None,
    augment_fn: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None,
    mean: np.ndarray | None,
    std: np.ndarray | None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    order = rng.permutation(len(y)) if rng is not None else np.arange(len(y))
    for start in range(0, len(y), batch_size):
        index = order[start : start + batch_size]
        xb = _to_float(x[index], mean, std)
        if augment_fn is not None and rng is not None:
            xb = augment_fn(xb, rng)
        yield xb, np.asarray(y[index], dtype=np.int64)


def _to_float(xb: np.ndarray, mean: np.ndarray | None, std: np.ndarray | None) -> np.ndarray:
    if xb.dtype != np.uint8:
        return xb.astype(np.float32)
    channels = xb.shape[1]
    m = np.zeros(channels, np.float32) if mean is None else mean
    s = np.ones(channels, np.float32) if std is None else std
    return normalize(xb, m, s)


def to_nhwc(x: np.ndarray) -> np.ndarray:
    """Move the channel axis last: (N, C, H, W) -> (N, H, W, C), or (C, H, W) -> (H, W, C).

    Args:
        x: an NCHW batch or one CHW image.

    Returns:
        A C-contiguous array in channels-last order.
    """
    if x.ndim not in (3, 4):
        raise ValueError(f"expected (N, C, H, W) or (C, H, W), got shape {x.shape}")
    return np.ascontiguousarray(np.moveaxis(x, -3, -1))
