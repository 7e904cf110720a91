"""The end of every epoch: score, then save checkpoint, resume state and metrics as one step.

The resume state is the journal of a run: it holds the weights, the optimiser, the
schedule position, the metrics of every finished epoch and which epoch was best. It is
written first, atomically, and is the commit point of an epoch; `model.*`, `best.*`,
their digests and `metrics.jsonl` are then derived from it. A process killed at any
moment leaves either the previous journal or the new one, and `--resume` rewrites the
derived files from the journal before it continues, so the metrics and the checkpoints
always agree with the state a run resumes from. Ctrl-C during the commit waits for it.
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from inceptgen.output import atomic_path, atomic_write
from inceptgen.runtime.progress import EpochProgress
from inceptgen.runtime.training.batches import TestBatches, score
from inceptgen.runtime.training.config import TrainConfig
from inceptgen.runtime.training.errors import TrainingError
from inceptgen.runtime.training.run_dir import RunFiles, write_digest
from inceptgen.runtime.training.schedule import learning_rate_at

__all__ = ["EpochRecorder", "Journal", "Trainer", "deferred_interrupt", "predict_all", "write_derived"]

_RECORD_KEYS = ("epoch", "loss", "train_acc", "test_loss", "test_acc", "test_top5", "seconds", "images_per_s", "lr")


class Trainer(Protocol):
    """What each framework's loop offers the run (see `loop_torch`, `loop_keras`)."""

    framework_params: int

    def fit(self, start_epoch: int, recorder: EpochRecorder, progress: EpochProgress) -> None: ...

    def predict(self, x_nchw: np.ndarray) -> np.ndarray: ...

    def save_checkpoint(self, path: Path) -> None: ...

    def save_state(self, path: Path, meta: dict[str, Any]) -> None: ...

    def load_state(self, path: Path) -> dict[str, Any]: ...


@dataclass
class Journal:
    """What the resume state records besides the weights and the optimiser."""

    records: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0

    @property
    def epochs_done(self) -> int:
        return len(self.records)

    def to_meta(self) -> dict[str, Any]:
        return {"epochs_done": self.epochs_done, "records": self.records, "best_epoch": self.best_epoch}

    @classmethod
    def from_meta(cls, meta: Any, where: Path) -> Journal:
        """The journal of a resume state, checked (a hand-edited or foreign state is refused)."""
        if not isinstance(meta, dict):
            raise TrainingError(f"cannot resume from {where}: no run record in it")
        records, done, best = meta.get("records"), meta.get("epochs_done"), meta.get("best_epoch")
        if not (type(done) is int and done >= 0):
            raise TrainingError(f"cannot resume from {where}: epochs done must be a count, got {done!r}")
        if not (
            isinstance(records, list) and len(records) == done and all(_is_record(r, i) for i, r in enumerate(records))
        ):
            raise TrainingError(f"cannot resume from {where}: its metrics do not list epochs 1..{done}")
        if not (type(best) is int and 0 <= best <= done):
            raise TrainingError(f"cannot resume from {where}: best epoch {best!r} is not one of its epochs")
        return cls(list(records), best)

    def with_epoch(self, record: dict[str, Any]) -> Journal:
        best = self.best_epoch
        if best == 0 or record["test_acc"] > self.records[best - 1]["test_acc"]:
            best = record["epoch"]
        return Journal([*self.records, record], best)


def _is_record(record: Any, index: int) -> bool:
    return (
        isinstance(record, dict)
        and record.get("epoch") == index + 1
        and all(isinstance(record.get(k), int | float) for k in _RECORD_KEYS)
    )


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Hold Ctrl-C until the body (an epoch's commit) is done, then raise it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def predict_all(trainer: Trainer, batches: TestBatches) -> np.ndarray:
    """The model's logits for the whole test split, batch by batch."""
    return np.concatenate([trainer.predict(batches.batch(i)) for i in range(len(batches))])


def write_derived(files: RunFiles, target: str, trainer: Trainer, journal: Journal) -> None:
    """Write what follows from the journal: the checkpoint, the best one when it is this epoch, the metrics."""
    checkpoint = files.checkpoint(target)
    trainer.save_checkpoint(checkpoint)
    write_digest(checkpoint)
    if journal.best_epoch == journal.epochs_done:
        best = files.best(target)
        with atomic_path(best, suffix=checkpoint.suffix if target == "torch" else ".weights.h5") as tmp:
            shutil.copyfile(checkpoint, tmp)
        write_digest(best)
    atomic_write(files.metrics, "".join(json.dumps(r) + "\n" for r in journal.records))


class EpochRecorder:
    """Scores the test split and commits the epoch; in a distributed run only rank 0 does either."""

    def __init__(
        self,
        files: RunFiles,
        config: TrainConfig,
        trainer: Trainer,
        test: TestBatches,
        progress: EpochProgress,
        journal: Journal,
        steps_per_epoch: int,
        main: bool = True,
    ) -> None:
        self.files, self.config, self.trainer, self.test = files, config, trainer, test
        self.progress, self.journal, self.steps_per_epoch, self.main = progress, journal, steps_per_epoch, main
        self.events: Any = None  # a TensorBoard writer, when asked for

    @property
    def epochs_done(self) -> int:
        """Epochs committed to disk (what a resume would continue from)."""
        return self.journal.epochs_done

    def end_epoch(self, epoch: int, loss: float, accuracy: float, images: int, train_seconds: float) -> None:
        if not self.main:
            return
        started = time.perf_counter()
        test = score(predict_all(self.trainer, self.test), self.test.labels)
        record = self._record(epoch, loss, accuracy, test, images, train_seconds, time.perf_counter() - started)
        journal = self.journal.with_epoch(record)
        with deferred_interrupt():
            self.trainer.save_state(self.files.resume_state(self.config.target), journal.to_meta())
            self.journal = journal  # committed: a resume continues after this epoch
            write_derived(self.files, self.config.target, self.trainer, journal)
        if self.events is not None:
            self.events.write(record)
        self.progress.finish(record, self.config.epochs)

    def _record(
        self,
        epoch: int,
        loss: float,
        accuracy: float,
        test: dict[str, float],
        images: int,
        train_s: float,
        test_s: float,
    ) -> dict[str, Any]:
        last_step = (epoch + 1) * self.steps_per_epoch - 1
        total = self.config.epochs * self.steps_per_epoch
        return {
            "epoch": epoch + 1,
            "loss": _finite(loss),
            "train_acc": accuracy,
            "test_loss": _finite(test["loss"]),
            "test_acc": test["top1"],
            "test_top5": test["top5"],
            "seconds": round(train_s + test_s, 3),
            "images_per_s": round(images / max(train_s, 1e-9), 1),
            "lr": learning_rate_at(last_step, total, self.config.lr, self.config.warmup_fraction, self.config.schedule),
        }


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise TrainingError(
            f"the loss is {value}: training diverged", hint="lower --lr, or use --clip-grad-norm or --precision 32"
        )
    return float(value)
