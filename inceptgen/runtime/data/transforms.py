"""Array transforms shared by every framework: subsets, statistics, normalisation, augmentation.

Everything is numpy, so the PyTorch and Keras loops (and every data-loading worker) compute
identical batches. Random choices are drawn apart from the pixels they apply to
(:func:`draw_crop_flip`, :func:`crop_box_random`), so a distributed run can draw a whole
global batch's choices and apply only its own share of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from inceptgen.runtime.data.errors import DataError

__all__ = [
    "CropFlip",
    "augment",
    "apply_crop_flip",
    "balanced_indices",
    "balanced_subset",
    "batches",
    "channel_stats",
    "crop_box_centre",
    "crop_box_random",
    "draw_crop_flip",
    "normalize",
    "to_nhwc",
]

_PAD = 4
#: Random-resized-crop ranges (Inception's, as torchvision has them): area fraction and aspect ratio.
CROP_SCALE = (0.08, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)
#: Test images are resized so that the centre crop keeps this fraction of each side.
CENTRE_FRACTION = 0.875


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
    picked = balanced_indices(y, limit, seed)
    return x[picked], y[picked]


def balanced_indices(y: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """The sorted indices :func:`balanced_subset` keeps (for data that are not one array)."""
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
    return picked


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


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__


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
    if x_float_nchw.ndim != 4:
        raise ValueError(f"expected images (N, C, H, W), got shape {x_float_nchw.shape}")
    return apply_crop_flip(x_float_nchw, draw_crop_flip(rng, len(x_float_nchw)))


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


@dataclass(frozen=True)
class CropFlip:
    """The choices of :func:`augment` for N images: row and column offsets into the padded image, flips."""

    dy: np.ndarray
    dx: np.ndarray
    flip: np.ndarray

    def __getitem__(self, part: slice) -> CropFlip:
        return CropFlip(self.dy[part], self.dx[part], self.flip[part])


def draw_crop_flip(rng: np.random.Generator, n: int) -> CropFlip:
    """Draw :func:`augment`'s choices for `n` images, in augment's order (rows, columns, flips)."""
    dy = rng.integers(0, 2 * _PAD + 1, n)
    dx = rng.integers(0, 2 * _PAD + 1, n)
    return CropFlip(dy, dx, rng.random(n) < 0.5)


def apply_crop_flip(x_float_nchw: np.ndarray, choices: CropFlip) -> np.ndarray:
    """Zero-pad 4, crop at the chosen offsets, flip the chosen images horizontally (a new array)."""
    x = x_float_nchw
    if x.ndim != 4:
        raise ValueError(f"expected images (N, C, H, W), got shape {x.shape}")
    n, c, h, w = x.shape
    padded = np.zeros((n, c, h + 2 * _PAD, w + 2 * _PAD), dtype=x.dtype)
    padded[:, :, _PAD : _PAD + h, _PAD : _PAD + w] = x
    windows = np.lib.stride_tricks.sliding_window_view(padded, (h, w), axis=(2, 3))
    out = windows[np.arange(n), :, choices.dy, choices.dx]  # (N, C, H, W), a copy
    out[choices.flip] = out[choices.flip, :, :, ::-1]
    return out


def crop_box_random(rng: np.random.Generator, width: int, height: int) -> tuple[float, float, float, float]:
    """A random-resized-crop box (left, top, right, bottom) of a `width` x `height` image.

    Inception's crop, as torchvision draws it: an area fraction in CROP_SCALE and a
    log-uniform aspect ratio in CROP_RATIO, ten tries, then the centre crop of the
    nearest allowed ratio.
    """
    area = width * height
    log_ratio = (math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1]))
    for _ in range(10):
        target = area * rng.uniform(*CROP_SCALE)
        ratio = math.exp(rng.uniform(*log_ratio))
        w = round(math.sqrt(target * ratio))
        h = round(math.sqrt(target / ratio))
        if 0 < w <= width and 0 < h <= height:
            left = int(rng.integers(0, width - w + 1))
            top = int(rng.integers(0, height - h + 1))
            return left, top, left + w, top + h
    ratio = width / height
    w, h = width, height
    if ratio < CROP_RATIO[0]:
        h = round(w / CROP_RATIO[0])
    elif ratio > CROP_RATIO[1]:
        w = round(h * CROP_RATIO[1])
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def crop_box_centre(width: int, height: int, out_h: int, out_w: int) -> tuple[float, float, float, float]:
    """The box of a `width` x `height` image that "resize to 1/0.875, then centre-crop out_h x out_w" keeps."""
    scale = max(out_h / (CENTRE_FRACTION * height), out_w / (CENTRE_FRACTION * width))
    box_w, box_h = out_w / scale, out_h / scale
    left, top = (width - box_w) / 2, (height - box_h) / 2
    return left, top, left + box_w, top + box_h
