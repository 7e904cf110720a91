"""The PyTorch input pipeline: a `DataLoader` over whole batches, with workers, pinned memory, prefetch.

The loader's items are global step numbers and each worker builds a whole batch
(`TrainBatches.batch`, a pure function of the step), so the batches are the same for any
number of workers. One loader serves every remaining epoch, so its workers start once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from inceptgen.runtime.data import DataError
from inceptgen.runtime.training.batches import TrainBatches

__all__ = ["BatchFailure", "train_loader"]

PREFETCH_FACTOR = 4  # batches each worker keeps ready


@dataclass(frozen=True)
class BatchFailure:
    """A batch a worker could not build (an unreadable image): passed as data, raised by the loop.

    A DataLoader re-raises a worker's exception with the worker's traceback in its text; the
    loop raises this one as the one-line DataError it was.
    """

    message: str
    hint: str | None = None

    def error(self) -> DataError:
        return DataError(self.message, hint=self.hint)


class _Steps(Dataset):  # type: ignore[type-arg]
    def __init__(self, batches: TrainBatches, epochs: int) -> None:
        self.batches, self.epochs = batches, epochs

    def __len__(self) -> int:
        return self.epochs * len(self.batches)

    def __getitem__(self, global_step: int) -> tuple[torch.Tensor, torch.Tensor] | BatchFailure:
        epoch, step = divmod(global_step, len(self.batches))
        try:
            x, y = self.batches.batch(epoch, step)
        except DataError as err:
            return BatchFailure(err.message, err.hint)
        return torch.from_numpy(x), torch.from_numpy(y)


def train_loader(batches: TrainBatches, epochs: int, start_epoch: int, workers: int, pin_memory: bool) -> Any:
    """Batches of epochs `start_epoch` .. `epochs - 1`, in order."""
    steps = len(batches)
    return DataLoader(
        _Steps(batches, epochs),
        batch_size=None,  # items are whole batches
        sampler=range(start_epoch * steps, epochs * steps),
        num_workers=workers,
        pin_memory=pin_memory,
        prefetch_factor=PREFETCH_FACTOR if workers else None,
        persistent_workers=False,
    )
