"""What a `--data` argument names: a word for an official archive, or a path to detect."""

from __future__ import annotations

import os
from pathlib import Path

from inceptgen.runtime.data.cifar import is_cifar_dir, load_cifar
from inceptgen.runtime.data.dataset import Dataset
from inceptgen.runtime.data.download import ARCHIVES, default_cache_dir, download_archive
from inceptgen.runtime.data.errors import DataError
from inceptgen.runtime.data.folders import scan_image_folder

__all__ = ["resolve_data"]

ALL_SPLITS = ("train", "test")


def resolve_data(
    spec: str,
    download: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    splits: tuple[str, ...] = ALL_SPLITS,
    classes: tuple[str, ...] | None = None,
) -> Dataset:
    """Load a dataset named on the command line.

    Args:
        spec: `cifar10` or `cifar100` (the cached official archive), or a path to a
            CIFAR folder, a CIFAR `.tar.gz` archive, or an image folder with `train/`
            and `test/` (detected from the layout; its images are decoded per batch).
            Write `./cifar10` for a local folder of that name.
        download: for a word, fetch the archive if it is not cached.
        cache_dir: cache folder for words; default :func:`default_cache_dir`.
        splits: the splits needed: both for training, ("test",) for evaluation.
        classes: an image folder's class names in label order (evaluation passes the
            run's), instead of its sub-folders' sorted names.

    Raises:
        DataError: if the data is missing, not recognised, or invalid.
    """
    if spec in ARCHIVES:
        cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        return _cached(spec, cache, download, splits)
    path = Path(spec).expanduser()
    if not path.exists():
        raise DataError(
            f"dataset {spec!r} not found",
            hint="give a CIFAR folder or archive, an image folder, or the word cifar10 or cifar100",
        )
    if path.is_file() or is_cifar_dir(path):
        return load_cifar(path, splits)
    if any((path / name).is_dir() for name in splits):
        return scan_image_folder(path, splits, classes)
    raise DataError(
        f"{path}: not a CIFAR folder (cifar-10-batches-py/, batches.meta) nor an image "
        "folder (train/<class>/, test/<class>/)"
    )


def _cached(word: str, cache: Path, download: bool, splits: tuple[str, ...]) -> Dataset:
    archive = ARCHIVES[word]
    batches_dir = cache / archive.extract_dir / archive.folder
    if batches_dir.is_dir():
        return load_cifar(batches_dir, splits)
    if not download:
        if (cache / archive.file_name).is_file():
            return load_cifar(cache / archive.file_name, splits)
        raise DataError(
            f"{word} is not in the cache {cache}",
            hint=f"pass --download to fetch it (about {archive.size}), or give a path",
        )
    return load_cifar(download_archive(cache, archive), splits)
