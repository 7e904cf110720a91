"""TensorFlow devices, the tf.distribute strategy and the mixed-precision policy of a Keras run.

* `--device cpu` hides the GPUs; `--replicas N` then mirrors over N logical CPU devices
  (for tests and for trying a distributed set-up without GPUs).
* `--device cuda` (or `auto` with GPUs) mirrors over the visible GPUs, or the first
  `--replicas` of them; `cuda:N` uses GPU N alone.
* With `TF_CONFIG` in the environment the run is one worker of a
  `MultiWorkerMirroredStrategy` across machines; the chief (worker 0) writes the run.
* `--precision bf16|16` sets the `mixed_bfloat16` / `mixed_float16` policy while the model
  is built (Keras then scales the loss for float16 by itself).

Devices can only be configured before TensorFlow initialises them, once per process.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from inceptgen.runtime.frameworks import import_keras, import_tensorflow
from inceptgen.runtime.training.config import TrainConfig
from inceptgen.runtime.training.errors import TrainingError

__all__ = ["KerasPlacement", "keras_placement", "policy"]

_POLICIES = {"32": "float32", "bf16": "mixed_bfloat16", "16": "mixed_float16"}


@dataclass(frozen=True)
class KerasPlacement:
    """The strategy a Keras run builds and trains under, and whether this process writes the run."""

    strategy: Any
    replicas: int
    description: str
    chief: bool = True


def keras_placement(config: TrainConfig) -> KerasPlacement:
    """Configure TensorFlow's devices for `config` and choose the strategy (see the module docstring)."""
    tf = import_tensorflow()
    if config.device == "mps":
        raise TrainingError("--device mps is a PyTorch device: TensorFlow has none", hint="use --device cpu")
    if os.environ.get("TF_CONFIG"):
        return _multi_worker(tf)
    gpus = tf.config.list_physical_devices("GPU")
    device = ("cuda" if gpus else "cpu") if config.device == "auto" else config.device
    if device.startswith("cuda"):
        placement = _gpus(tf, gpus, device, config.replicas)
    else:
        placement = _cpus(tf, config.replicas or 1)
    if config.precision == "16" and not device.startswith("cuda"):
        raise TrainingError(
            "--precision 16 needs a GPU: mixed_float16 is not supported for training on the CPU",
            hint="use --precision bf16 on the CPU",
        )
    return placement


def _configure(action: Any) -> None:
    try:
        action()
    except RuntimeError:
        raise TrainingError(
            "TensorFlow's devices were already initialised in this process; "
            "--device and --replicas apply only to a fresh process"
        ) from None


def _cpus(tf: Any, replicas: int) -> KerasPlacement:
    if tf.config.list_physical_devices("GPU"):
        _configure(lambda: tf.config.set_visible_devices([], "GPU"))
    if replicas == 1:
        return KerasPlacement(tf.distribute.get_strategy(), 1, "the CPU")
    cpu = tf.config.list_physical_devices("CPU")[0]
    logical = [tf.config.LogicalDeviceConfiguration() for _ in range(replicas)]
    current = tf.config.get_logical_device_configuration(cpu)  # (listing logical devices would initialise them)
    if current is None or len(current) != replicas:
        _configure(lambda: tf.config.set_logical_device_configuration(cpu, logical))
    devices = [f"/cpu:{i}" for i in range(replicas)]
    strategy = tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
    return KerasPlacement(strategy, replicas, f"MirroredStrategy over {replicas} logical CPU devices")


def _gpus(tf: Any, gpus: list[Any], device: str, replicas: int | None) -> KerasPlacement:
    if not gpus:
        raise TrainingError(
            f"--device {device}: TensorFlow sees no GPU",
            hint="use --device cpu, or install TensorFlow with CUDA on a machine with an NVIDIA GPU",
        )
    if ":" in device:
        index = int(device.partition(":")[2])
        if index >= len(gpus):
            raise TrainingError(f"GPU {index} does not exist: TensorFlow sees {len(gpus)}")
        _configure(lambda: tf.config.set_visible_devices([gpus[index]], "GPU"))
        return KerasPlacement(tf.distribute.OneDeviceStrategy("/gpu:0"), 1, f"GPU {index}")
    count = replicas or len(gpus)
    if count > len(gpus):
        raise TrainingError(f"--replicas {count}: TensorFlow sees only {len(gpus)} GPUs")
    if count == 1:
        return KerasPlacement(tf.distribute.OneDeviceStrategy("/gpu:0"), 1, "GPU 0")
    strategy = tf.distribute.MirroredStrategy([f"/gpu:{i}" for i in range(count)])
    return KerasPlacement(strategy, count, f"MirroredStrategy over {count} GPUs")


def _multi_worker(tf: Any) -> KerasPlacement:
    try:
        task = json.loads(os.environ["TF_CONFIG"]).get("task", {})
    except (ValueError, AttributeError):
        raise TrainingError("TF_CONFIG is not valid JSON with a 'task'") from None
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    chief = task.get("type") in ("chief", None) or (task.get("type") == "worker" and task.get("index") == 0)
    what = f"MultiWorkerMirroredStrategy, {task.get('type')} {task.get('index')}"
    return KerasPlacement(strategy, strategy.num_replicas_in_sync, what, chief=chief)


@contextlib.contextmanager
def policy(precision: str) -> Iterator[None]:
    """Build layers under the precision's dtype policy, then restore the process's global one."""
    keras = import_keras()
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(_POLICIES[precision])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
