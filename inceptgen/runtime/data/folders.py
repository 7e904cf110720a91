"""Image folders in the ImageNet layout: `root/train/<class>/*` and `root/test/<class>/*`.

Training reads them as files (:func:`scan_image_folder`): only headers are read up front,
and each batch decodes its images, resized and cropped to the model's input, in the
data-loading workers. Header sizes are checked before any pixel is decoded (Pillow's
decompression-bomb limit), JPEGs are decoded at the smallest scale that still covers the
crop, and a file whose header cannot be read is skipped and counted. :func:`load_image_folder`
decodes a small folder into memory instead.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from inceptgen.runtime.data.dataset import Dataset, Split
from inceptgen.runtime.data.errors import DataError, one_line
from inceptgen.runtime.data.transforms import crop_box_centre, crop_box_random

__all__ = ["MAX_IMAGE_PIXELS", "decode_image", "load_image_folder", "scan_image_folder"]

#: Pillow's own decompression-bomb limit (about 89 megapixels): a larger image is refused unread.
MAX_IMAGE_PIXELS = 89_478_485
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".ppm", ".tif", ".tiff"})

Box = tuple[float, float, float, float]


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise DataError("reading an image folder needs Pillow", hint="pip install pillow") from None
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS  # keep the bomb check on, whatever else set it
    return Image


# --------------------------------------------------------------------------
# the folder's files


def scan_image_folder(
    path: str | os.PathLike[str], splits: tuple[str, ...] = ("train", "test"), classes: tuple[str, ...] | None = None
) -> Dataset:
    """Index an image folder without decoding it.

    Class names are the sorted sub-folders of `train/` (of `test/` when only the test
    split is asked for, unless `classes` names them, as a run's run.json does); `test/` may
    hold a subset of them. Files whose header cannot be
    read, or that exceed :data:`MAX_IMAGE_PIXELS`, are left out and listed in
    `Dataset.skipped`.

    Raises:
        DataError: a missing split folder, no classes, a training class without images,
            a test class unknown to `train/`, or a split left without images.
    """
    root = Path(path).expanduser()
    dirs = {name: root / name for name in splits}
    for split_dir in dirs.values():
        if not split_dir.is_dir():
            raise DataError(f"image folder {root}: missing directory {split_dir}")
    class_root = dirs.get("train", dirs["test"])
    if classes is None:
        classes = tuple(sorted(p.name for p in class_root.iterdir() if _visible_dir(p)))
    if not classes:
        raise DataError(f"image folder {class_root}: no class sub-folders")
    skipped: list[tuple[str, str]] = []
    found = {name: _split_files(d, classes, name == "train", skipped) for name, d in dirs.items()}
    return Dataset(classes, found["test"], found.get("train"), "image folder", tuple(skipped))


def _visible_dir(path: Path) -> bool:
    return path.is_dir() and not path.name.startswith(".")


def _image_files(class_dir: Path) -> list[Path]:
    visible = (p for p in class_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    return sorted(p for p in visible if p.suffix.lower() in IMAGE_SUFFIXES)


def _split_files(split_dir: Path, classes: tuple[str, ...], every_class: bool, skipped: list[tuple[str, str]]) -> Split:
    present = sorted(p.name for p in split_dir.iterdir() if _visible_dir(p))
    unknown = sorted(set(present) - set(classes))
    if unknown:
        raise DataError(f"{split_dir / unknown[0]}: class not present in train/")
    files: list[str] = []
    labels: list[int] = []
    for index, name in enumerate(classes):
        listed = _image_files(split_dir / name) if name in present else []
        readable = [str(f) for f in listed if _header_ok(f, skipped)]
        if every_class and not readable:
            raise DataError(f"{split_dir / name}: no images" + (" that can be read" if listed else ""))
        files += readable
        labels += [index] * len(readable)
    if not files:
        raise DataError(f"{split_dir}: no images")
    return Split(np.asarray(labels, np.int64), files=tuple(files))


def _header_ok(file: Path, skipped: list[tuple[str, str]]) -> bool:
    try:
        _open_checked(file).close()
    except DataError as err:
        skipped.append((str(file), err.message))
        return False
    return True


def _open_checked(file: str | Path) -> Any:
    """The opened image (header only), its size checked against the bomb limit."""
    image_module = _pil()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", image_module.DecompressionBombWarning)
            image = image_module.open(file)
    except (OSError, ValueError, image_module.DecompressionBombWarning, image_module.DecompressionBombError) as exc:
        raise DataError(f"{file}: cannot read image ({one_line(exc)})") from None
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS or width < 1 or height < 1:
        image.close()
        raise DataError(f"{file}: image of {width}x{height} pixels exceeds the limit of {MAX_IMAGE_PIXELS:,}")
    return image


# --------------------------------------------------------------------------
# decoding one image


def decode_image(
    file: str | Path, out_hw: tuple[int, int] | None, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Decode `file` as uint8 (3, H, W).

    Args:
        file: the image.
        out_hw: the output size; None keeps the image's own size.
        rng: draw a random-resized crop and a flip (training); None takes the centre crop
            of the image resized to 1/0.875 of `out_hw` (testing).

    Raises:
        DataError: the file cannot be decoded or exceeds the pixel limit (the message names it).
    """
    image_module = _pil()
    image = _open_checked(file)
    try:
        with image:
            rgb = _decoded(image, out_hw, rng, image_module)
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{file}: cannot read image ({one_line(exc)})") from None
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1))


def _decoded(image: Any, out_hw: tuple[int, int] | None, rng: np.random.Generator | None, pil: Any) -> Any:
    width, height = image.size
    if out_hw is None:
        return image.convert("RGB")
    out_h, out_w = out_hw
    box = crop_box_random(rng, width, height) if rng is not None else crop_box_centre(width, height, out_h, out_w)
    flip = rng is not None and rng.random() < 0.5
    box = _draft(image, box, out_hw)
    rgb = image.convert("RGB").resize((out_w, out_h), pil.Resampling.BILINEAR, box=box)
    return rgb.transpose(pil.Transpose.FLIP_LEFT_RIGHT) if flip else rgb


def _draft(image: Any, box: Box, out_hw: tuple[int, int]) -> Box:
    """Let JPEG decode at the smallest scale that still covers the crop; the box follows the scale."""
    width, height = image.size
    if getattr(image, "format", None) != "JPEG":
        return box
    need_w = width * out_hw[1] / max(box[2] - box[0], 1e-9)
    need_h = height * out_hw[0] / max(box[3] - box[1], 1e-9)
    image.draft("RGB", (max(1, round(need_w)), max(1, round(need_h))))
    sx, sy = image.size[0] / width, image.size[1] / height
    return box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy


# --------------------------------------------------------------------------
# a small folder, decoded into memory


def load_image_folder(path: str | os.PathLike[str], image_size: int | tuple[int, int] | None = None) -> Dataset:
    """Decode `root/train/<class>/*` and `root/test/<class>/*` into memory.

    Unlike :func:`scan_image_folder`, an unreadable image is an error here.

    Args:
        path: the root folder holding `train/` and `test/`.
        image_size: resize every image to this side (int) or (height, width);
            when None every image must already have the same size.

    Returns:
        The dataset, images uint8 (N, 3, H, W), labels int64.

    Raises:
        DataError: Pillow is missing, a split or class has no images, an image cannot
            be read, or sizes differ without `image_size`.
    """
    root = Path(path).expanduser()
    size = _size_hw(image_size)
    index = scan_image_folder(root)
    if index.skipped:
        raise DataError(index.skipped[0][1])
    train, test = index.train, index.test
    assert train is not None
    x_train, x_test = _decode_all(train, size), _decode_all(test, size)
    if size is None and x_train.shape[2:] != x_test.shape[2:]:
        raise DataError(
            f"image folder {root}: train and test images differ in size "
            f"({x_train.shape[2]}x{x_train.shape[3]} and {x_test.shape[2]}x{x_test.shape[3]})",
            hint="pass image_size to resize all images",
        )
    return Dataset.from_arrays(x_train, train.labels, x_test, test.labels, index.classes, "image folder")


def _size_hw(image_size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if image_size is None:
        return None
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    if h < 1 or w < 1:
        raise DataError(f"image_size must be positive, got {image_size}")
    return int(h), int(w)


def _decode_all(split: Split, size: tuple[int, int] | None) -> np.ndarray:
    images = []
    for file in split.files or ():
        image = _plain_resize(file, size)
        if images and image.shape != images[0].shape:
            raise DataError(
                f"{file}: image is {image.shape[1]}x{image.shape[2]} but earlier images "
                f"are {images[0].shape[1]}x{images[0].shape[2]}",
                hint="pass image_size to resize all images to one size",
            )
        images.append(image)
    return np.stack(images)


def _plain_resize(file: str, size: tuple[int, int] | None) -> np.ndarray:
    pil = _pil()
    image = _open_checked(file)
    try:
        with image:
            rgb = image.convert("RGB")
        if size is not None and rgb.size != (size[1], size[0]):
            rgb = rgb.resize((size[1], size[0]), pil.Resampling.BILINEAR)
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{file}: cannot read image ({one_line(exc)})") from None
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1))
