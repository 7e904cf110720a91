"""TensorBoard event files of a run's epochs (`--tensorboard`), written by each framework's own writer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inceptgen.runtime.training.errors import TrainingError

__all__ = ["EventLog", "open_event_log"]

_SCALARS = ("loss", "train_acc", "test_loss", "test_acc", "test_top5", "lr", "images_per_s")


class EventLog:
    """Scalars per epoch: `torch.utils.tensorboard.SummaryWriter` or a `tf.summary` file writer."""

    def __init__(self, writer: Any, framework: str) -> None:
        self.writer, self.framework = writer, framework

    def write(self, record: dict[str, Any]) -> None:
        step = int(record["epoch"])
        if self.framework == "torch":
            for name in _SCALARS:
                self.writer.add_scalar(f"epoch/{name}", record[name], step)
            self.writer.flush()
            return
        from inceptgen.runtime.frameworks import import_tensorflow

        tf = import_tensorflow()
        with self.writer.as_default():
            for name in _SCALARS:
                tf.summary.scalar(f"epoch/{name}", record[name], step=step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def open_event_log(folder: Path, framework: str) -> EventLog:
    """A writer into `folder` (created); PyTorch's needs the `tensorboard` package."""
    folder.mkdir(parents=True, exist_ok=True)
    if framework == "torch":
        from inceptgen.runtime.frameworks import quiet_stderr

        try:
            with quiet_stderr():  # the tensorboard package imports TensorFlow when it is installed
                from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise TrainingError(
                "--tensorboard with torch needs the tensorboard package", hint="pip install 'inceptgen[tensorboard]'"
            ) from None
        return EventLog(SummaryWriter(str(folder)), framework)
    from inceptgen.runtime.frameworks import import_tensorflow

    return EventLog(import_tensorflow().summary.create_file_writer(str(folder)), framework)
