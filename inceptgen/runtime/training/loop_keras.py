"""The Keras training loop: `model.fit` under a tf.distribute strategy, with a callback per epoch."""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from inceptgen.output import atomic_path
from inceptgen.runtime import data as datalib
from inceptgen.runtime.frameworks import import_keras, import_tensorflow
from inceptgen.runtime.progress import EpochProgress
from inceptgen.runtime.training.backend import Backend, aux_weights
from inceptgen.runtime.training.batches import TrainBatches
from inceptgen.runtime.training.config import TrainConfig
from inceptgen.runtime.training.distributed import Ranks
from inceptgen.runtime.training.errors import TrainingError, first_line
from inceptgen.runtime.training.journal import EpochRecorder, Journal, Trainer
from inceptgen.runtime.training.keras_setup import KerasPlacement, keras_placement, policy
from inceptgen.runtime.training.optim_keras import build_keras_optimizer
from inceptgen.runtime.training.pipeline_keras import KerasBatches
from inceptgen.runtime.training.prepare import Prepared

__all__ = ["KerasTrainer", "backend", "keras_model", "keras_predict", "predictor"]


def backend(config: TrainConfig) -> Backend:
    """A Keras run: TensorFlow's devices and the tf.distribute strategy (configured here)."""
    placement = keras_placement(config)

    def make(spec: Any, cfg: TrainConfig, prepared: Prepared) -> Trainer:
        return KerasTrainer(spec, cfg, prepared.train_batches(), aux_weights(spec), placement)

    return Backend(Ranks(), placement.chief, placement.description, make, lambda e: e, lambda v: v, lambda: None)


def predictor(spec: Any, checkpoint: Path, config: TrainConfig) -> Any:
    """Logits of a saved `.weights.h5`, under `config`'s device and precision (for `inceptgen evaluate`)."""
    if not checkpoint.name.endswith(".weights.h5"):
        raise TrainingError(f"Keras weights files end in .weights.h5, got {checkpoint.name}")
    keras_placement(config)  # the device, and a refusal of float16 on the CPU
    with policy(config.precision):
        model = keras_model(spec)
    try:
        with warnings.catch_warnings():
            # Keras loads what it can and only warns about layers it skipped; a partial load is a bad checkpoint.
            warnings.simplefilter("error", UserWarning)
            model.load_weights(checkpoint)
    except Exception as exc:  # noqa: BLE001 - any unreadable or unfitting file is the user's bad checkpoint
        raise TrainingError(f"cannot load {checkpoint} into {spec.model.name}: {first_line(exc)}") from None
    return lambda x: keras_predict(model, x)


def keras_model(spec: Any) -> Any:
    """The Keras model, with outputs [main, aux...] when the spec has auxiliary heads."""
    from inceptgen.runtime.build import build_model

    import_keras()
    if not spec.model.auxes:
        return spec.to_keras()
    return build_model(spec.source("keras"), "keras", spec.model.name, aux_outputs=True)


def keras_predict(model: Any, x_nchw: np.ndarray) -> np.ndarray:
    """Logits of the main output, float32, in inference mode."""
    keras = import_keras()
    outputs = model(datalib.to_nhwc(x_nchw), training=False)
    main = outputs[0] if isinstance(outputs, list | tuple) else outputs
    return keras.ops.convert_to_numpy(keras.ops.cast(main, "float32"))


class KerasTrainer:
    """`model.fit` on the shared batches; a callback drives the progress display and the epoch's record."""

    def __init__(
        self,
        spec: Any,
        config: TrainConfig,
        batches: TrainBatches,
        aux_weights: list[float],
        placement: KerasPlacement,
    ) -> None:
        keras = import_keras()
        keras.utils.set_random_seed(config.seed)
        self.config, self.batches, self.placement = config, batches, placement
        self.outputs = 1 + len(aux_weights)
        classes = int(spec.checked.outputs["main"][0])
        self.pipeline = KerasBatches(batches, self.outputs, classes)
        with placement.strategy.scope(), policy(config.precision):
            self.model = keras_model(spec)
            self.optimizer = build_keras_optimizer(config, config.epochs * len(batches), self.model.trainable_variables)
            self._compile(keras, aux_weights)
        self.framework_params = int(self.model.count_params())

    def _compile(self, keras: Any, aux_weights: list[float]) -> None:
        if self.config.jit_compile and not all(layer.supports_jit for layer in self.model._flatten_layers()):
            raise TrainingError("--jit-compile: a layer of this model does not support XLA")
        loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=self.config.label_smoothing)
        accuracy = keras.metrics.CategoricalAccuracy(name="accuracy")
        single = self.outputs == 1
        self.model.compile(
            optimizer=self.optimizer,
            loss=loss if single else [loss] * self.outputs,
            loss_weights=None if single else [1.0, *aux_weights],
            metrics=[accuracy] if single else [[accuracy]] + [[] for _ in aux_weights],
            jit_compile=self.config.jit_compile,
        )

    def fit(self, start_epoch: int, recorder: EpochRecorder, progress: EpochProgress) -> None:
        tf = import_tensorflow()
        steps = len(self.batches)
        dataset = self.pipeline.dataset(start_epoch * steps, self.config.epochs * steps, self.config.workers)
        callbacks = [_EpochCallback(self, recorder, progress)]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "shuffle=True was passed": we pass False
                self.model.fit(
                    dataset,
                    epochs=self.config.epochs,
                    initial_epoch=start_epoch,
                    steps_per_epoch=steps,
                    shuffle=False,  # TrainBatches shuffles, identically for both targets
                    verbose=0,
                    callbacks=callbacks,
                )
        except tf.errors.OpError:
            if self.pipeline.failure is not None:
                raise self.pipeline.failure from None
            raise

    def predict(self, x_nchw: np.ndarray) -> np.ndarray:
        return keras_predict(self.model, x_nchw)

    def save_checkpoint(self, path: Path) -> None:
        with atomic_path(path, suffix=".weights.h5") as tmp:
            self.model.save_weights(tmp)

    def save_state(self, path: Path, meta: dict[str, Any]) -> None:
        numpy = import_keras().ops.convert_to_numpy
        arrays = {"meta_json": np.frombuffer(json.dumps(meta).encode(), np.uint8)}
        arrays |= {f"model_{i:05d}": np.asarray(w) for i, w in enumerate(self.model.get_weights())}
        arrays |= {f"optimizer_{i:05d}": numpy(v) for i, v in enumerate(self.optimizer.variables)}
        with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)

    def load_state(self, path: Path) -> dict[str, Any]:
        try:
            with np.load(path, allow_pickle=False) as saved:  # plain arrays only: nothing to execute
                arrays = {k: saved[k] for k in saved.files}
            meta = json.loads(arrays.pop("meta_json").tobytes().decode())
        except Exception as exc:  # noqa: BLE001 - any unreadable state is a bad resume directory
            raise TrainingError(f"cannot resume from {path}: {first_line(exc)}") from None
        journal = Journal.from_meta(meta, path)
        try:
            self.model.set_weights([arrays[k] for k in sorted(arrays) if k.startswith("model_")])
            self._load_optimizer([arrays[k] for k in sorted(arrays) if k.startswith("optimizer_")])
        except Exception as exc:  # noqa: BLE001 - any unfitting state is a bad resume directory
            raise TrainingError(f"cannot resume from {path}: {first_line(exc)}") from None
        return journal.to_meta()

    def _load_optimizer(self, slots: list[np.ndarray]) -> None:
        if len(slots) != len(self.optimizer.variables):
            raise ValueError(f"{len(slots)} optimizer arrays for {len(self.optimizer.variables)} variables")
        for variable, value in zip(self.optimizer.variables, slots, strict=True):
            if tuple(variable.shape) != value.shape:
                raise ValueError(f"optimizer variable {variable.name} is {tuple(variable.shape)}, saved {value.shape}")
            variable.assign(value)


def _keras_figures(logs: dict[str, Any]) -> tuple[float, float]:
    """The total loss and the main output's accuracy from Keras' logs (output names prefix the metric)."""
    accuracy = next((v for k, v in logs.items() if k == "accuracy" or k.endswith("_accuracy")), 0.0)
    return float(logs.get("loss", math.nan)), float(accuracy)


def _callback_base() -> Any:
    return import_keras().callbacks.Callback


class _EpochCallback(_callback_base()):  # type: ignore[misc]
    """Drives the shared progress display and records each epoch like the PyTorch loop does."""

    def __init__(self, trainer: KerasTrainer, recorder: EpochRecorder, progress: EpochProgress) -> None:
        super().__init__()
        self.trainer, self.recorder, self.progress = trainer, recorder, progress
        self.started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.progress.start(epoch + 1, self.trainer.config.epochs, len(self.trainer.batches))
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss, accuracy = _keras_figures(logs or {})
        self.progress.update(batch + 1, self.trainer.batches.images_in(batch + 1), loss, accuracy)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        seconds = time.perf_counter() - self.started
        loss, accuracy = _keras_figures(logs or {})
        images = self.trainer.batches.images_in(len(self.trainer.batches))
        self.recorder.end_epoch(epoch, loss, accuracy, images, seconds)
