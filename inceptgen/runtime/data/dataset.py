"""Labelled images, decoded in memory (CIFAR) or as files decoded per batch (image folders)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from inceptgen.runtime.data.errors import DataError

__all__ = ["Dataset", "Split"]


@dataclass(frozen=True, eq=False)
class Split:
    """One split of a dataset.

    Attributes:
        labels: int64 labels (N,).
        images: uint8 images (N, 3, H, W), for data held in memory.
        files: image paths (N,), decoded and resized per batch, for image folders.
    """

    labels: np.ndarray
    images: np.ndarray | None = None
    files: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if (self.images is None) == (self.files is None):
            raise DataError("a split holds either decoded images or image files")
        y = self.labels
        if not (isinstance(y, np.ndarray) and y.dtype == np.int64 and y.ndim == 1):
            raise DataError("labels must be an int64 array (N,)")
        if self.images is not None:
            x = self.images
            if not (isinstance(x, np.ndarray) and x.dtype == np.uint8 and x.ndim == 4):
                raise DataError("images must be a uint8 array (N, C, H, W)")
            if x.shape[1] != 3:
                raise DataError(f"images have {x.shape[1]} channels, expected 3")
        count = len(self.images) if self.images is not None else len(self.files or ())
        if count != len(y):
            raise DataError(f"{count} images but {len(y)} labels")
        if count == 0:
            raise DataError("no images")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def in_memory(self) -> bool:
        """Whether the images are decoded arrays (else files decoded per batch)."""
        return self.images is not None

    def take(self, index: np.ndarray) -> Split:
        """The images at `index`, in that order."""
        if self.images is not None:
            return Split(self.labels[index], images=self.images[index])
        files = self.files or ()
        return Split(self.labels[index], files=tuple(files[i] for i in index))


@dataclass(frozen=True, eq=False)
class Dataset:
    """A test split, an optional training split (evaluation needs none), and the class names.

    Attributes:
        classes: class names; label `i` names `classes[i]`.
        test: the test split.
        train: the training split, None when only the test split was asked for.
        name: what the data are ("CIFAR-10", "CIFAR-100", "image folder").
        skipped: (file, reason) of each image left out because it cannot be read.
    """

    classes: tuple[str, ...]
    test: Split
    train: Split | None = None
    name: str = "images"
    skipped: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        for split_name, split in (("train", self.train), ("test", self.test)):
            if split is None:
                continue
            if split.labels.min() < 0 or split.labels.max() >= len(self.classes):
                raise DataError(f"{split_name} labels outside 0..{len(self.classes) - 1}")
        if self.train is not None and self.train.in_memory and self.test.in_memory:
            a, b = self.train.images.shape[1:], self.test.images.shape[1:]  # type: ignore[union-attr]
            if a != b:
                raise DataError(f"train images {a} and test images {b} differ in shape")

    @classmethod
    def from_arrays(
        cls,
        x_train: np.ndarray,
        y_train: np.ndarray,
        x_test: np.ndarray,
        y_test: np.ndarray,
        classes: Sequence[str],
        name: str = "images",
    ) -> Dataset:
        """A dataset of decoded images, validated split by split."""
        train = _split("train", x_train, y_train)
        return cls(tuple(classes), _split("test", x_test, y_test), train, name)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int] | None:
        """(C, H, W) of decoded images; None for files, which are resized to the model's input."""
        if not self.test.in_memory:
            return None
        c, h, w = self.test.images.shape[1:]  # type: ignore[union-attr]
        return int(c), int(h), int(w)

    def _arrays(self, split: Split | None, what: str) -> Split:
        if split is None or not split.in_memory:
            raise DataError(f"the {what} split is not held in memory")
        return split

    @property
    def x_train(self) -> np.ndarray:
        """Training images, uint8 (N, 3, H, W)."""
        return self._arrays(self.train, "training").images  # type: ignore[return-value]

    @property
    def y_train(self) -> np.ndarray:
        """Training labels, int64 (N,)."""
        return self._arrays(self.train, "training").labels

    @property
    def x_test(self) -> np.ndarray:
        """Test images, uint8 (M, 3, H, W)."""
        return self._arrays(self.test, "test").images  # type: ignore[return-value]

    @property
    def y_test(self) -> np.ndarray:
        """Test labels, int64 (M,)."""
        return self._arrays(self.test, "test").labels


def _split(name: str, x: np.ndarray, y: np.ndarray) -> Split:
    try:
        return Split(y, images=x)
    except DataError as err:
        raise DataError(f"{name} split: {err.message}") from None
