"""The per-epoch progress display both training loops share.

The PyTorch loop calls it directly; a Keras callback calls it from `model.fit`
(run with `verbose=0`), so both targets look the same. On a terminal a live
Rich bar shows loss, accuracy and images/s while an epoch runs; whether on a
terminal or not, every finished epoch prints one plain line with its figures,
so that CI logs show them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

__all__ = ["EpochProgress", "format_epoch_line"]


def format_epoch_line(record: Mapping[str, float | int], epochs: int) -> str:
    """One line with an epoch's figures, as written to the log (`record` is a metrics.jsonl line)."""
    return (
        f"epoch {record['epoch']}/{epochs}  loss {record['loss']:.4f}  "
        f"train {record['train_acc']:.1%}  test {record['test_acc']:.1%}  "
        f"lr {record['lr']:.4g}  {record['images_per_s']:,.0f} img/s  {record['seconds']:.1f} s"
    )


class EpochProgress:
    """A live bar during an epoch (terminals only) and a log line after it (always).

    Args:
        console: where to print; standard output by default.
        live: show the live bar; by default only when the console is a terminal.
    """

    def __init__(self, console: Console | None = None, live: bool | None = None) -> None:
        self.console = console or Console(highlight=False)
        self.live = self.console.is_terminal if live is None else live
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._started = 0.0

    def start(self, epoch: int, epochs: int, steps: int) -> None:
        """Begin epoch `epoch` (1-based) of `epochs`, which has `steps` batches."""
        self._started = time.perf_counter()
        if not self.live:
            return
        self._progress = Progress(
            TextColumn(f"epoch {epoch}/{epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  acc {task.fields[acc]:.1%}  {task.fields[ips]:,.0f} img/s"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,  # the bar gives way to the epoch's log line
        )
        self._progress.start()
        self._task = self._progress.add_task("train", total=steps, loss=0.0, acc=0.0, ips=0.0)

    def update(self, steps_done: int, images_done: int, loss: float, accuracy: float) -> None:
        """Report the running mean loss and accuracy after `steps_done` batches of this epoch."""
        if self._progress is None or self._task is None:
            return
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        self._progress.update(self._task, completed=steps_done, loss=loss, acc=accuracy, ips=images_done / elapsed)

    def finish(self, record: Mapping[str, float | int], epochs: int) -> None:
        """End the epoch: remove the bar and print the epoch's line."""
        self.close()
        self.console.print(format_epoch_line(record, epochs), soft_wrap=True, markup=False)

    def message(self, text: str) -> None:
        """Print one line (a start, end or interruption notice)."""
        self.console.print(text, soft_wrap=True, markup=False)

    def close(self) -> None:
        """Stop the live bar, if one is running (also on errors and Ctrl-C)."""
        if self._progress is not None:
            self._progress.stop()
        self._progress = None
        self._task = None
