"""The batches of a run: each a pure function of (seed, epoch, step), split over processes.

Every epoch is a fresh permutation of the training images, seeded by (seed, epoch); global
batch `step` is the next `batch_size` of it, and its augmentation choices are drawn from a
generator seeded by (seed, epoch, step). A process of a distributed run takes its contiguous
share of every global batch, with the matching share of the choices, so the union of the
shares is exactly the batch one process would train on. Any batch can be rebuilt alone:
data-loading workers, Keras (which asks by index) and a resumed run all see the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inceptgen.runtime import data as datalib
from inceptgen.runtime.data import Split
from inceptgen.runtime.training.errors import TrainingError

__all__ = ["EVAL_BATCH_SIZE", "BatchPlan", "TestBatches", "TrainBatches", "score"]

EVAL_BATCH_SIZE = 250


@dataclass(frozen=True)
class BatchPlan:
    """Which images form each global batch, and which share of it is this process's.

    Only full batches are used (a small last batch would give batch-norm noisy
    statistics), unless the data hold less than one batch.
    """

    images: int
    batch_size: int
    seed: int
    world: int = 1
    rank: int = 0

    def __post_init__(self) -> None:
        if self.global_batch < self.world:
            raise TrainingError(f"{self.images} training images cannot feed {self.world} processes")
        if self.global_batch % self.world:
            raise TrainingError(
                f"a batch of {self.global_batch} images does not split over {self.world} processes",
                hint=f"use a --batch-size that is a multiple of {self.world}",
            )

    @property
    def global_batch(self) -> int:
        return min(self.batch_size, self.images)

    @property
    def local_batch(self) -> int:
        return self.global_batch // self.world

    @property
    def steps(self) -> int:
        return max(1, self.images // self.batch_size)

    def share(self) -> slice:
        """This process's part of every global batch."""
        return slice(self.rank * self.local_batch, (self.rank + 1) * self.local_batch)


class TrainBatches:
    """Augmented training batches of one process, normalised float32 NCHW.

    Images held in memory (CIFAR) are padded, cropped and flipped after normalising
    (:func:`inceptgen.runtime.data.augment`); image files are decoded with a random
    resized crop and flip to `size`, each image's choices seeded by its place in the batch.
    """

    def __init__(self, split: Split, plan: BatchPlan, mean: np.ndarray, std: np.ndarray, size: tuple[int, int]) -> None:
        self.split, self.plan = split, plan
        self.mean, self.std, self.size = mean, std, size
        self._order: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.plan.steps

    def images_in(self, steps: int) -> int:
        """How many images (over all processes) the first `steps` batches of an epoch hold."""
        return steps * self.plan.global_batch

    def batch(self, epoch: int, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch `step` of epoch `epoch` (both 0-based): float32 NCHW images and int64 labels."""
        chosen = self.indices(epoch, step)
        share = self.plan.share()
        local = chosen[share]
        rng = np.random.default_rng([self.plan.seed, epoch, step])
        if self.split.images is not None:
            choices = datalib.draw_crop_flip(rng, len(chosen))[share]
            images = datalib.normalize(self.split.images[local], self.mean, self.std)
            images = datalib.apply_crop_flip(images, choices)
        else:
            files = self.split.files or ()
            first = share.start or 0
            decoded = [
                datalib.decode_image(
                    files[i], self.size, np.random.default_rng([self.plan.seed, epoch, step, first + j])
                )
                for j, i in enumerate(local)
            ]
            images = datalib.normalize(np.stack(decoded), self.mean, self.std)
        return np.ascontiguousarray(images), self.split.labels[local]

    def indices(self, epoch: int, step: int) -> np.ndarray:
        """The indices (into the split) of global batch `step` of `epoch`, over all processes."""
        return self._epoch_order(epoch)[step * self.plan.global_batch : (step + 1) * self.plan.global_batch]

    def _epoch_order(self, epoch: int) -> np.ndarray:
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, np.random.default_rng([self.plan.seed, epoch]).permutation(self.plan.images))
        return self._order[1]


class TestBatches:
    """The test split in order, normalised float32 NCHW (image files: resized, centre-cropped)."""

    def __init__(self, split: Split, mean: np.ndarray, std: np.ndarray, size: tuple[int, int]) -> None:
        self.split, self.mean, self.std, self.size = split, mean, std, size

    def __len__(self) -> int:
        return -(-len(self.split) // EVAL_BATCH_SIZE)

    def batch(self, index: int) -> np.ndarray:
        part = slice(index * EVAL_BATCH_SIZE, (index + 1) * EVAL_BATCH_SIZE)
        if self.split.images is not None:
            return datalib.normalize(self.split.images[part], self.mean, self.std)
        files = (self.split.files or ())[part]
        return datalib.normalize(np.stack([datalib.decode_image(f, self.size) for f in files]), self.mean, self.std)

    @property
    def labels(self) -> np.ndarray:
        return self.split.labels


def score(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Mean cross-entropy, top-1 and top-5 accuracy of `logits` (N, classes) against int labels (N,)."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    log_normaliser = np.log(np.exp(z).sum(axis=1))
    picked = z[np.arange(len(labels)), labels]
    k = min(5, logits.shape[1])
    top_k = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    return {
        "loss": float(np.mean(log_normaliser - picked)),
        "top1": float(np.mean(np.argmax(logits, axis=1) == labels)),
        "top5": float(np.mean((top_k == labels[:, None]).any(axis=1))),
    }
