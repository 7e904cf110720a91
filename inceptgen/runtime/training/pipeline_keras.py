"""The Keras input pipeline: `tf.data` over the shared batches, with parallel calls and prefetch.

Each element is one global step's batch (`TrainBatches.batch`, a pure function of the step,
run through `tf.numpy_function`), NHWC images and one-hot labels once per model output;
`deterministic=True` keeps the order whatever the number of parallel calls. Under a
tf.distribute strategy Keras splits each global batch over the replicas.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from inceptgen.runtime import data as datalib
from inceptgen.runtime.data import DataError
from inceptgen.runtime.frameworks import import_tensorflow
from inceptgen.runtime.training.batches import TrainBatches

__all__ = ["KerasBatches"]


class KerasBatches:
    """A tf.data pipeline of the remaining steps; a worker's DataError is kept to be raised as it was."""

    def __init__(self, batches: TrainBatches, outputs: int, classes: int) -> None:
        self.batches, self.outputs, self.classes = batches, outputs, classes
        self.failure: DataError | None = None

    def _numpy_batch(self, global_step: np.int64) -> tuple[np.ndarray, np.ndarray]:
        epoch, step = divmod(int(global_step), len(self.batches))
        try:
            x, y = self.batches.batch(epoch, step)
        except DataError as err:
            self.failure = err
            raise
        return datalib.to_nhwc(x), np.eye(self.classes, dtype=np.float32)[y]

    def dataset(self, start_step: int, total_steps: int, workers: int) -> Any:
        tf = import_tensorflow()
        n, (h, w) = self.batches.plan.global_batch, self.batches.size
        one_hot_shape = (n, self.classes)

        def load(step: Any) -> Any:
            x, y = tf.numpy_function(self._numpy_batch, [step], [tf.float32, tf.float32], stateful=False)
            x, y = tf.ensure_shape(x, (n, h, w, 3)), tf.ensure_shape(y, one_hot_shape)
            return x, (y if self.outputs == 1 else (y,) * self.outputs)

        steps = tf.data.Dataset.range(start_step, total_steps)
        # Without workers, one call at a time (tf.data warns that `deterministic` then means nothing).
        parallel = {"num_parallel_calls": workers, "deterministic": True} if workers > 0 else {}
        return steps.map(load, **parallel).prefetch(tf.data.AUTOTUNE)
