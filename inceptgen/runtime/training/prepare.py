"""The data of a run: the dataset, checked against the model, subsets, normalisation, batches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from inceptgen.runtime import data as datalib
from inceptgen.runtime.data import Dataset, Split
from inceptgen.runtime.training.batches import BatchPlan, TestBatches, TrainBatches
from inceptgen.runtime.training.config import TrainConfig
from inceptgen.runtime.training.errors import TrainingError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "Prepared", "check_model_fits", "normalisation", "prepare"]

#: Image folders are normalised with ImageNet's statistics (computing a folder's own would decode it all).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True, eq=False)
class Prepared:
    """A run's training and test data and how they are normalised."""

    dataset_name: str
    classes: tuple[str, ...]
    train: Split
    test: Split
    mean: np.ndarray
    std: np.ndarray
    normalised_by: str
    size: tuple[int, int]
    skipped: tuple[tuple[str, str], ...]
    plan: BatchPlan

    @property
    def train_images(self) -> int:
        return len(self.train)

    @property
    def test_images(self) -> int:
        return len(self.test)

    @property
    def steps(self) -> int:
        return self.plan.steps

    def train_batches(self) -> TrainBatches:
        return TrainBatches(self.train, self.plan, self.mean, self.std, self.size)

    def test_batches(self) -> TestBatches:
        return TestBatches(self.test, self.mean, self.std, self.size)

    def record(self) -> dict[str, Any]:
        """The data as run.json and summary.json state them."""
        return {
            "dataset": self.dataset_name,
            "classes": list(self.classes),
            "train_images": self.train_images,
            "test_images": self.test_images,
            "skipped_images": len(self.skipped),
            "image_size": list(self.size),
            "normalization": {"mean": self.mean.tolist(), "std": self.std.tolist(), "from": self.normalised_by},
        }


def check_model_fits(spec: Any, dataset: Dataset) -> tuple[int, int]:
    """The (H, W) images are fed at; refuse a model whose classes or input do not fit the data."""
    outputs = tuple(spec.checked.outputs["main"])
    if outputs != (dataset.num_classes,):
        got = outputs[0] if len(outputs) == 1 else "x".join(map(str, outputs))
        raise TrainingError(
            f"the model outputs {got} values per image but the data have {dataset.num_classes} classes",
            hint=f"set the model's classes to {dataset.num_classes} (e.g. --set classes={dataset.num_classes})",
        )
    channels, height, width = (int(d) for d in spec.checked.input_shape)
    shape = dataset.image_shape
    if channels != 3:
        raise TrainingError(f"the model takes {channels}-channel images; the data are RGB (3 channels)")
    if shape is not None and shape != (channels, height, width):
        want, have = f"{channels}x{height}x{width}", "x".join(map(str, shape))
        raise TrainingError(f"the model takes {want} images but the data hold {have} images")
    return height, width


def normalisation(dataset: Dataset, train: Split) -> tuple[np.ndarray, np.ndarray, str]:
    """Channel mean and std: the training split's own for decoded images, ImageNet's for files."""
    if not train.in_memory:
        return np.asarray(IMAGENET_MEAN, np.float32), np.asarray(IMAGENET_STD, np.float32), "ImageNet statistics"
    mean, std = datalib.channel_stats(train.images)  # type: ignore[arg-type]
    flat = [int(c) for c in np.flatnonzero(std <= 0)]
    if flat:
        raise TrainingError(
            f"the training images are constant in channel {flat[0]} (standard deviation 0): nothing to learn from"
        )
    return mean, std, "training split"


def _subset(split: Split, limit: int | None, seed: int) -> Split:
    return split if limit is None else split.take(datalib.balanced_indices(split.labels, limit, seed))


def prepare(spec: Any, dataset: Dataset, config: TrainConfig, world: int = 1, rank: int = 0) -> Prepared:
    """Check the data against the model, take the subsets, and plan the batches of this process."""
    size = check_model_fits(spec, dataset)
    if dataset.train is None:
        raise TrainingError("training needs a training split")
    train = _subset(dataset.train, config.limit_train, config.seed)
    test = _subset(dataset.test, config.limit_test, config.seed)
    mean, std, source = normalisation(dataset, train)
    plan = BatchPlan(len(train), config.batch_size, config.seed, world, rank)
    return Prepared(dataset.name, dataset.classes, train, test, mean, std, source, size, dataset.skipped, plan)
