"""A training run that stops dead at a chosen point, for test_faults.py to kill -9 there.

    python tests/runtime/fault_run.py POINT RUN_DIR MARKER

POINT is where epoch 2 hangs: "epoch" (its last batch), "state" (half-way through writing
the resume state), "checkpoint" (half-way through model.pt), or "metrics" (half-way through
metrics.jsonl). When it gets there the run writes MARKER and sleeps until it is killed.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path
from typing import Any

import torch

import inceptgen
from inceptgen.output import atomic_path
from inceptgen.runtime.progress import EpochProgress
from inceptgen.runtime.train import train
from inceptgen.runtime.training import journal
from tests.runtime.trainkit import SMALL, TINY_SPEC, cifar_path

POINT, OUT, MARKER = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
calls: dict[str, int] = {}


def hang() -> None:
    MARKER.write_text("here")
    time.sleep(600)


class HangInEpoch2(EpochProgress):
    def start(self, epoch: int, epochs: int, steps: int) -> None:
        self.epoch, self.steps = epoch, steps
        super().start(epoch, epochs, steps)

    def update(self, steps_done: int, images_done: int, loss: float, accuracy: float) -> None:
        if POINT == "epoch" and self.epoch == 2 and steps_done == self.steps:
            hang()


real_save = torch.save


def half_save(obj: Any, path: Any, *args: Any, **kwargs: Any) -> None:
    """torch.save that writes half of the file on its second write of the chosen file."""
    name = {"state": ".resume.pt.", "checkpoint": ".model.pt."}.get(POINT)
    if name and Path(path).name.startswith(name):
        calls[name] = calls.get(name, 0) + 1
        if calls[name] == 2:
            buffer = io.BytesIO()
            real_save(obj, buffer)
            Path(path).write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            hang()
    real_save(obj, path, *args, **kwargs)


real_write = journal.atomic_write


def half_write(path: Any, data: Any) -> None:
    if POINT == "metrics" and Path(path).name == "metrics.jsonl" and data.count("\n") == 2:
        with atomic_path(path) as tmp:
            tmp.write_text(data[: len(data) // 2 + 7])
            hang()
    real_write(path, data)


torch.save = half_save
journal.atomic_write = half_write
torch.set_num_threads(1)
train(
    inceptgen.load(TINY_SPEC),
    "torch",
    cifar_path(),
    out=OUT,
    progress=HangInEpoch2(live=False),
    **(SMALL | {"epochs": 3}),
)
