"""Training and evaluating generated models, one module per job.

* :mod:`.config` - the settings of a run, validated; :mod:`.schedule` - warm-up + cosine;
* :mod:`.batches` - the batches, pure functions of (seed, epoch, step), split over processes;
* :mod:`.prepare` - the data of a run, checked against the model, normalised;
* :mod:`.run_dir` - the run directory, its lock, run.json, digests; :mod:`.journal` - the
  epoch's atomic commit (checkpoint, resume state, metrics) and its repair on resume;
* :mod:`.devices`, :mod:`.distributed` - PyTorch devices, precision and the process group;
  :mod:`.keras_setup` - TensorFlow devices, tf.distribute strategies, precision policies;
* :mod:`.loop_torch`, :mod:`.pipeline_torch`, :mod:`.optim_torch` - the PyTorch loop;
  :mod:`.loop_keras`, :mod:`.pipeline_keras`, :mod:`.optim_keras` - the Keras loop;
* :mod:`.run` - one run from start to summary; :mod:`.evaluate` - scoring a checkpoint;
  :mod:`.launch` - `--nproc-per-node`: torch's elastic launcher on one machine.
"""

from __future__ import annotations

from inceptgen.runtime.training.batches import EVAL_BATCH_SIZE, BatchPlan, TestBatches, TrainBatches, score
from inceptgen.runtime.training.config import TrainConfig
from inceptgen.runtime.training.errors import TrainingError, TrainingInterruptedError
from inceptgen.runtime.training.evaluate import evaluate
from inceptgen.runtime.training.run import train
from inceptgen.runtime.training.run_dir import RunFiles
from inceptgen.runtime.training.schedule import WARMUP_FRACTION, learning_rate_at

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
