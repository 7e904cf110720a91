"""Train and score generated models on image data, with PyTorch or Keras: the public entry points.

Both targets train the same way, so their figures can be compared: the same batches
(pure functions of seed, epoch and step, split over processes), the same update rule for
each optimiser, the same schedule and the same loss. The implementation lives in
:mod:`inceptgen.runtime.training`, one module per job; this module is what the CLI and
users import.
"""

from __future__ import annotations

from inceptgen.runtime.training import (
    EVAL_BATCH_SIZE,
    WARMUP_FRACTION,
    BatchPlan,
    RunFiles,
    TestBatches,
    TrainBatches,
    TrainConfig,
    TrainingError,
    TrainingInterruptedError,
    evaluate,
    learning_rate_at,
    score,
    train,
)

__all__ = [
    "EVAL_BATCH_SIZE",
    "WARMUP_FRACTION",
    "BatchPlan",
    "RunFiles",
    "TestBatches",
    "TrainBatches",
    "TrainConfig",
    "TrainingError",
    "TrainingInterruptedError",
    "evaluate",
    "learning_rate_at",
    "score",
    "train",
]
