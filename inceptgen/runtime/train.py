"""Train and score generated models on image data, with PyTorch or Keras.

Both targets train the same way, so their figures can be compared:

* the same batches: :class:`TrainBatches` shuffles, normalises and augments
  with numpy (``inceptgen.runtime.data``), seeded per (seed, epoch, batch), so
  any batch can be rebuilt on its own (Keras asks for batches by index, and a
  resumed run sees the batches an uninterrupted one would have);
* the same optimiser: SGD with Nesterov momentum 0.9 and decoupled weight
  decay on kernels and dense weights (not on biases or batch-norm parameters),
  computed as ``keras.optimizers.SGD(momentum=0.9, nesterov=True,
  weight_decay=WEIGHT_DECAY)`` computes it. The PyTorch loop writes those three
  lines out (:class:`_KerasSGD`): ``torch.optim.SGD`` differs in two ways, its
  ``weight_decay`` is an L2 term added to the gradient (and so amplified by the
  momentum), and its momentum buffer sums raw gradients scaled afterwards by the
  current learning rate, where Keras sums ``lr * grad`` (they part whenever the
  schedule moves). Keeping to one formula also spares importing torch's compiler
  stack, which ``torch.optim`` pulls in;
* the same schedule, one pure function of the step (:func:`learning_rate_at`):
  linear warm-up, then cosine decay to zero. Keras reads it from a table;
* the same loss: cross-entropy on logits with optional label smoothing
  (``(1 - e) * one_hot + e / classes`` in both), plus each auxiliary head's
  cross-entropy times its spec weight. Auxiliary heads only train.

A run directory holds ``run.json`` (settings, normalisation), ``metrics.jsonl``
(one line per epoch), ``summary.json``, the checkpoint (``model.pt`` state dict
or ``model.weights.h5``), the state to resume from (``resume.pt`` or
``resume.npz``) and the generated source (``model_torch.py`` or
``model_keras.py``). Every file is written atomically.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inceptgen.errors import InceptgenError
from inceptgen.output import atomic_path, atomic_write
from inceptgen.runtime import data as datalib
from inceptgen.runtime.progress import EpochProgress

__all__ = [
    "EVAL_BATCH_SIZE",
    "MOMENTUM",
    "WARMUP_FRACTION",
    "WEIGHT_DECAY",
    "RunFiles",
    "TrainBatches",
    "TrainingError",
    "TrainingInterruptedError",
    "evaluate",
    "learning_rate_at",
    "score",
    "train",
]

MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4  # decoupled: each step multiplies decayed weights by (1 - lr * WEIGHT_DECAY)
WARMUP_FRACTION = 0.15  # of all steps: linear warm-up, then cosine decay to zero
EVAL_BATCH_SIZE = 500
TARGETS = ("torch", "keras")

# Settings a resumed run must share with the run it continues (epochs may grow).
_RESUME_SETTINGS = ("batch_size", "lr", "limit_train", "limit_test", "seed", "label_smoothing")


class TrainingError(InceptgenError):
    """Training or evaluation cannot proceed: bad settings, data that do not fit the model, a bad checkpoint."""


class TrainingInterruptedError(TrainingError):
    """Ctrl-C stopped training; the last finished epoch is saved and can be resumed."""


# --------------------------------------------------------------------------
# the shared pieces: schedule, batches, scoring


def learning_rate_at(step: int, total_steps: int, peak: float, warmup_fraction: float = WARMUP_FRACTION) -> float:
    """The learning rate of optimiser step `step` (0-based) in a run of `total_steps`.

    Rises linearly to `peak` over the first `warmup_fraction` of the steps, then
    follows half a cosine down towards zero at `total_steps`.
    """
    warmup = max(1, round(warmup_fraction * total_steps))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


class TrainBatches:
    """Augmented training batches, each a pure function of (seed, epoch, index).

    Every epoch is a fresh permutation; only full batches are used (a small last
    batch would give batch-norm noisy statistics), unless the data hold less than
    one batch. Images are normalised with the training split's statistics, then
    padded, cropped and flipped (:func:`inceptgen.runtime.data.augment`).
    """

    def __init__(
        self, x: np.ndarray, y: np.ndarray, batch_size: int, mean: np.ndarray, std: np.ndarray, seed: int
    ) -> None:
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.mean, self.std = mean, std
        self.seed = seed
        self.steps = max(1, len(y) // batch_size)
        self._order: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.steps

    def images_in(self, steps: int) -> int:
        """How many images the first `steps` batches of an epoch hold."""
        return min(steps * self.batch_size, len(self.y))

    def batch(self, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch `index` of epoch `epoch` (both 0-based): float32 NCHW images and int64 labels."""
        chosen = self._epoch_order(epoch)[index * self.batch_size : (index + 1) * self.batch_size]
        images = datalib.normalize(self.x[chosen], self.mean, self.std)
        images = datalib.augment(images, np.random.default_rng([self.seed, epoch, index]))
        return np.ascontiguousarray(images), self.y[chosen]

    def _epoch_order(self, epoch: int) -> np.ndarray:
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, np.random.default_rng([self.seed, epoch]).permutation(len(self.y)))
        return self._order[1]


def score(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of `logits` (N, classes) against int labels (N,)."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    log_normaliser = np.log(np.exp(z).sum(axis=1))
    picked = z[np.arange(len(labels)), labels]
    loss = float(np.mean(log_normaliser - picked))
    accuracy = float(np.mean(np.argmax(logits, axis=1) == labels))
    return loss, accuracy


def _test_batches(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> list[np.ndarray]:
    dummy = np.zeros(len(x), np.int64)
    return [xb for xb, _ in datalib.batches(x, dummy, EVAL_BATCH_SIZE, mean=mean, std=std)]


def _epoch_seed(seed: int, epoch: int) -> int:
    # Reseeding per epoch makes a resumed run draw the same dropout masks as an uninterrupted one.
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


# --------------------------------------------------------------------------
# settings, data and the run directory


@dataclass(frozen=True)
class Settings:
    """What one training call was asked to do (saved in run.json)."""

    target: str
    epochs: int
    batch_size: int
    lr: float
    limit_train: int | None
    limit_test: int | None
    seed: int
    label_smoothing: float

    def validate(self) -> None:
        _check_target(self.target)
        if self.epochs < 1:
            raise TrainingError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise TrainingError(f"batch size must be at least 1, got {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise TrainingError(f"learning rate must be a positive number, got {self.lr}")
        if self.seed < 0:
            raise TrainingError(f"seed must be zero or positive, got {self.seed}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise TrainingError(f"label smoothing must be in [0, 1), got {self.label_smoothing}")
        for name in ("limit_train", "limit_test"):
            limit = getattr(self, name)
            if limit is not None and limit < 1:
                raise TrainingError(f"{name.replace('_', '-')} must be at least 1, got {limit}")


def _check_target(target: str) -> None:
    if target not in TARGETS:
        raise TrainingError(f"unknown target {target!r}", hint="use torch or keras")


@dataclass(frozen=True)
class Split:
    """The images a run trains and tests on, and the training split's channel statistics."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray


def _load_split(spec: Any, data: str, download: bool, settings: Settings) -> Split:
    dataset = datalib.resolve_data(data, download=download)
    _check_model_fits_data(spec, dataset)
    x_train, y_train = datalib.balanced_subset(dataset.x_train, dataset.y_train, settings.limit_train, settings.seed)
    x_test, y_test = datalib.balanced_subset(dataset.x_test, dataset.y_test, settings.limit_test, settings.seed)
    mean, std = datalib.channel_stats(x_train)
    return Split(x_train, y_train, x_test, y_test, dataset.classes, mean, std)


def _check_model_fits_data(spec: Any, dataset: datalib.Dataset) -> None:
    outputs = tuple(spec.checked.outputs["main"])
    if outputs != (dataset.num_classes,):
        got = outputs[0] if len(outputs) == 1 else "x".join(map(str, outputs))
        raise TrainingError(
            f"the model outputs {got} values per image but the data have {dataset.num_classes} classes",
            hint=f"set the model's classes to {dataset.num_classes} (e.g. --set classes={dataset.num_classes})",
        )
    if tuple(spec.checked.input_shape) != dataset.image_shape:
        want = "x".join(map(str, spec.checked.input_shape))
        have = "x".join(map(str, dataset.image_shape))
        raise TrainingError(f"the model takes {want} images but the data hold {have} images")


@dataclass(frozen=True)
class RunFiles:
    """The files of one run directory."""

    root: Path

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    def checkpoint(self, target: str) -> Path:
        return self.root / ("model.pt" if target == "torch" else "model.weights.h5")

    def resume_state(self, target: str) -> Path:
        return self.root / ("resume.pt" if target == "torch" else "resume.npz")

    def source(self, target: str) -> Path:
        return self.root / f"model_{target}.py"

    def all_files(self) -> list[Path]:
        """Every file a run of either target writes (a new run never overwrites one)."""
        per_target = [f(t) for t in TARGETS for f in (self.checkpoint, self.resume_state, self.source)]
        return [self.run_json, self.metrics, self.summary, *per_target]

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics.is_file():
            return []
        return [json.loads(line) for line in self.metrics.read_text(encoding="utf-8").splitlines() if line.strip()]

    def write_metrics(self, records: Sequence[dict[str, Any]]) -> None:
        atomic_write(self.metrics, "".join(json.dumps(r) + "\n" for r in records))


def _run_dir(out: Path | None, resume: Path | None) -> Path:
    if resume is None and out is None:
        raise TrainingError("no run directory: pass --out RUN_DIR (or --resume RUN_DIR)")
    if resume is not None and out is not None and Path(out).resolve() != Path(resume).resolve():
        raise TrainingError(f"--resume continues in {resume}; --out {out} must be the same directory or left out")
    return Path(resume if resume is not None else out)  # type: ignore[arg-type]


def _start_new_run(files: RunFiles) -> None:
    if files.root.exists() and not files.root.is_dir():
        raise TrainingError(f"{files.root} exists and is not a directory")
    if any(path.exists() for path in files.all_files()):
        raise TrainingError(
            f"{files.root} already holds a training run",
            hint="continue it with --resume, or choose another --out",
        )
    files.root.mkdir(parents=True, exist_ok=True)


def _source_digest(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def _run_record(spec: Any, settings: Settings, split: Split, source: str) -> dict[str, Any]:
    return {
        "model": spec.model.name,
        "spec": spec.source_name,
        "source_sha256": _source_digest(source),
        "settings": asdict(settings),
        "classes": list(split.classes),
        "train_images": len(split.y_train),
        "test_images": len(split.y_test),
        "normalization": {"mean": split.mean.tolist(), "std": split.std.tolist()},
    }


def _read_run_json(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrainingError(f"cannot read {path}: {exc}") from None
    if not isinstance(record, dict) or "settings" not in record or "normalization" not in record:
        raise TrainingError(f"{path} is not an inceptgen run record")
    return record


def _check_resumable(files: RunFiles, saved: dict[str, Any], current: dict[str, Any]) -> None:
    """Refuse to continue a run with another model, target, data or settings."""
    was, now = saved["settings"], current["settings"]
    if was.get("target") != now["target"]:
        raise TrainingError(f"{files.root} was trained with {was.get('target')}, not {now['target']}")
    if saved.get("source_sha256") != current["source_sha256"]:
        raise TrainingError(f"{files.root} trained another model than {current['spec']} generates now")
    differ = [k for k in _RESUME_SETTINGS if was.get(k) != now[k]]
    if differ:
        used = ", ".join(f"{k}={was.get(k)}" for k in differ)
        given = ", ".join(f"{k}={now[k]}" for k in differ)
        raise TrainingError(f"{files.root} was trained with {used}; resume with the same values (got {given})")
    same_data = (
        saved.get("classes") == current["classes"]
        and saved.get("train_images") == current["train_images"]
        and np.allclose(saved["normalization"]["mean"], current["normalization"]["mean"])
        and np.allclose(saved["normalization"]["std"], current["normalization"]["std"])
    )
    if not same_data:
        raise TrainingError(
            f"{files.root} was trained on other data (classes, image count or channel statistics differ)"
        )


def _aux_weights(spec: Any) -> list[float]:
    """The loss weight of each auxiliary head, in the order the models return them."""
    return [float(spec.checked.node(aux.name).values["weight"]) for aux in spec.model.auxes]


# --------------------------------------------------------------------------
# what happens at the end of every epoch, for both targets


class _EpochRecorder:
    """Scores the test split, saves checkpoint and resume state, and logs one metrics line per epoch."""

    def __init__(
        self,
        files: RunFiles,
        settings: Settings,
        split: Split,
        trainer: _Trainer,
        progress: EpochProgress,
        records: list[dict[str, Any]],
        steps_per_epoch: int,
    ) -> None:
        self.files, self.settings, self.trainer, self.progress = files, settings, trainer, progress
        self.records = records
        self.steps_per_epoch = steps_per_epoch
        self.test_batches = _test_batches(split.x_test, split.mean, split.std)
        self.y_test = split.y_test

    @property
    def epochs_done(self) -> int:
        return len(self.records)

    def end_epoch(self, epoch: int, loss: float, accuracy: float, images: int, train_seconds: float) -> None:
        started = time.perf_counter()
        test_loss, test_acc = score(np.concatenate([self.trainer.predict(xb) for xb in self.test_batches]), self.y_test)
        last_step = (epoch + 1) * self.steps_per_epoch - 1
        record = {
            "epoch": epoch + 1,
            "loss": loss,
            "train_acc": accuracy,
            "test_loss": test_loss,
            "test_acc": test_acc,
            "seconds": round(train_seconds + time.perf_counter() - started, 3),
            "images_per_s": round(images / max(train_seconds, 1e-9), 1),
            "lr": learning_rate_at(last_step, self.settings.epochs * self.steps_per_epoch, self.settings.lr),
        }
        # Resume state first: if Ctrl-C lands between the writes, what resumes is never behind model.pt.
        self.trainer.save_resume_state(self.files.resume_state(self.settings.target), epoch + 1)
        self.trainer.save_checkpoint(self.files.checkpoint(self.settings.target))
        self.records.append(record)
        self.files.write_metrics(self.records)
        self.progress.finish(record, self.settings.epochs)


class _Meter:
    """Running means over an epoch, weighted by batch size (as Keras' metrics are)."""

    def __init__(self) -> None:
        self.loss_sum = 0.0
        self.correct = 0
        self.images = 0

    def add(self, loss: float, correct: int, images: int) -> None:
        self.loss_sum += loss * images
        self.correct += correct
        self.images += images

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.images, 1)

    @property
    def accuracy(self) -> float:
        return self.correct / max(self.images, 1)


class _Trainer:
    """What the two targets implement; the epoch loop lives in `fit`."""

    framework_params: int

    def fit(self, start_epoch: int, recorder: _EpochRecorder, progress: EpochProgress) -> None:
        raise NotImplementedError

    def predict(self, x_nchw: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def save_checkpoint(self, path: Path) -> None:
        raise NotImplementedError

    def save_resume_state(self, path: Path, epochs_done: int) -> None:
        raise NotImplementedError

    def load_resume_state(self, path: Path) -> int:
        raise NotImplementedError


# --------------------------------------------------------------------------
# PyTorch


class _TorchTrainer(_Trainer):
    """A plain PyTorch loop over :class:`TrainBatches`."""

    def __init__(self, spec: Any, settings: Settings, batches: TrainBatches, aux_weights: list[float]) -> None:
        import torch

        torch.manual_seed(settings.seed)
        self.model = spec.to_torch()
        self.settings, self.batches, self.aux_weights = settings, batches, aux_weights
        self.optimizer = _KerasSGD([p for p in self.model.parameters() if p.requires_grad])
        self.total_steps = settings.epochs * len(batches)
        self.framework_params = sum(p.numel() for p in self.model.parameters())

    def fit(self, start_epoch: int, recorder: _EpochRecorder, progress: EpochProgress) -> None:
        import torch

        for epoch in range(start_epoch, self.settings.epochs):
            torch.manual_seed(_epoch_seed(self.settings.seed, epoch))
            progress.start(epoch + 1, self.settings.epochs, len(self.batches))
            self.model.train()
            meter = _Meter()
            started = time.perf_counter()
            for index in range(len(self.batches)):
                x, y = self.batches.batch(epoch, index)
                lr = learning_rate_at(epoch * len(self.batches) + index, self.total_steps, self.settings.lr)
                loss, correct = self._step(torch.from_numpy(x), torch.from_numpy(y), lr)
                meter.add(loss, correct, len(y))
                progress.update(index + 1, meter.images, meter.loss, meter.accuracy)
            recorder.end_epoch(epoch, meter.loss, meter.accuracy, meter.images, time.perf_counter() - started)

    def _step(self, x: Any, y: Any, lr: float) -> tuple[float, int]:
        import torch.nn.functional as F  # noqa: N812 - the usual name

        outputs = self.model(x)
        main, auxes = (outputs[0], outputs[1:]) if isinstance(outputs, tuple) else (outputs, ())
        smoothing = self.settings.label_smoothing
        loss = F.cross_entropy(main, y, label_smoothing=smoothing)
        for weight, logits in zip(self.aux_weights, auxes, strict=True):
            loss = loss + weight * F.cross_entropy(logits, y, label_smoothing=smoothing)
        self.model.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step(lr)
        return loss.item(), int((main.argmax(1) == y).sum())

    def predict(self, x_nchw: np.ndarray) -> np.ndarray:
        return _torch_predict(self.model, x_nchw)

    def save_checkpoint(self, path: Path) -> None:
        import torch

        with atomic_path(path, suffix=".pt") as tmp:
            torch.save(self.model.state_dict(), tmp)

    def save_resume_state(self, path: Path, epochs_done: int) -> None:
        import torch

        state = {"epochs_done": epochs_done, "model": self.model.state_dict(), "momenta": self.optimizer.momenta}
        with atomic_path(path, suffix=".pt") as tmp:
            torch.save(state, tmp)

    def load_resume_state(self, path: Path) -> int:
        state = _torch_load(path)
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_momenta(state["momenta"])
            return int(state["epochs_done"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise TrainingError(f"{path} does not fit this model: {_first_line(exc)}") from None


class _KerasSGD:
    """Nesterov SGD with decoupled weight decay, step for step as `keras.optimizers.SGD` computes it.

    Per parameter ``w`` with gradient ``g`` and momentum ``m`` (Keras' SGD.update_step and
    BaseOptimizer._apply_weight_decay), at learning rate ``lr``::

        w -= w * WEIGHT_DECAY * lr          # kernels and dense weights only
        m = MOMENTUM * m - lr * g
        w += MOMENTUM * m - lr * g
    """

    def __init__(self, params: list[Any]) -> None:
        import torch

        self.params = params
        # Keras decays what it is not told to exclude; we exclude 1-D variables (biases, batch-norm) in both.
        self.decays = [p.ndim > 1 for p in params]
        self.momenta = [torch.zeros_like(p) for p in params]

    def step(self, lr: float) -> None:
        import torch

        with torch.no_grad():
            for w, m, decays in zip(self.params, self.momenta, self.decays, strict=True):
                if w.grad is None:  # Keras skips variables without a gradient altogether
                    continue
                if decays:
                    w.sub_(w * (WEIGHT_DECAY * lr))
                m.mul_(MOMENTUM).sub_(w.grad, alpha=lr)
                w.add_(m, alpha=MOMENTUM).sub_(w.grad, alpha=lr)

    def load_momenta(self, momenta: list[Any]) -> None:
        if [m.shape for m in momenta] != [m.shape for m in self.momenta]:
            raise ValueError("the saved momenta do not match the model's parameters")
        self.momenta = [m.clone() for m in momenta]


def _torch_predict(model: Any, x_nchw: np.ndarray) -> np.ndarray:
    import torch

    was_training = model.training
    model.eval()  # batch-norm running statistics; no auxiliary heads
    with torch.no_grad():
        logits = model(torch.from_numpy(x_nchw)).numpy()
    model.train(was_training)
    return logits


def _torch_load(path: Path) -> Any:
    import torch

    try:
        # weights_only: a checkpoint is data, never code (unpickling arbitrary objects could run it).
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's bad checkpoint
        raise TrainingError(f"cannot read PyTorch checkpoint {path}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------
# Keras


def _import_keras() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    import keras

    return keras


def _keras_model(spec: Any) -> Any:
    """The Keras model with outputs [main, aux...] when the spec has auxiliary heads."""
    from inceptgen.runtime.build import build_model

    if not spec.model.auxes:
        return spec.to_keras()
    return build_model(spec.source("keras"), "keras", spec.model.name, aux_outputs=True)


def _keras_schedule(peak: float, total_steps: int) -> Any:
    """A Keras schedule that reads :func:`learning_rate_at` from a table (the step is a tensor in a graph)."""
    keras = _import_keras()

    class TableSchedule(keras.optimizers.schedules.LearningRateSchedule):
        def __init__(self, peak: float, total_steps: int) -> None:
            self.peak, self.total_steps = peak, total_steps
            table = [learning_rate_at(s, total_steps, peak) for s in range(total_steps)]
            self.table = keras.ops.convert_to_tensor(np.asarray(table, np.float32))

        def __call__(self, step: Any) -> Any:
            index = keras.ops.minimum(keras.ops.cast(step, "int32"), self.total_steps - 1)
            return keras.ops.take(self.table, index)

        def get_config(self) -> dict[str, Any]:
            return {"peak": self.peak, "total_steps": self.total_steps}

    return TableSchedule(peak, total_steps)


def _keras_dataset(batches: TrainBatches, outputs: int, classes: int) -> Any:
    """The shared batches as a Keras PyDataset: NHWC images, one-hot labels once per output."""
    keras = _import_keras()

    class SharedBatches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__(workers=1, use_multiprocessing=False)
            self.epoch = 0  # set by the callback at the start of every epoch

        def __len__(self) -> int:
            return len(batches)

        def __getitem__(self, index: int) -> tuple[Any, Any]:
            x, y = batches.batch(self.epoch, index)
            # One-hot labels: Keras' label smoothing needs them (the sparse loss has none).
            one_hot = np.eye(classes, dtype=np.float32)[y]
            return datalib.to_nhwc(x), (one_hot if outputs == 1 else (one_hot,) * outputs)

    return SharedBatches()


class _KerasTrainer(_Trainer):
    """`model.fit` on the shared batches, with a callback for progress and the epoch's records."""

    def __init__(self, spec: Any, settings: Settings, batches: TrainBatches, aux_weights: list[float]) -> None:
        keras = _import_keras()

        keras.utils.set_random_seed(settings.seed)
        self.model = _keras_model(spec)
        self.settings, self.batches = settings, batches
        self.outputs = 1 + len(aux_weights)
        classes = int(spec.checked.outputs["main"][0])
        self.dataset = _keras_dataset(batches, self.outputs, classes)
        self.optimizer = keras.optimizers.SGD(
            learning_rate=_keras_schedule(settings.lr, settings.epochs * len(batches)),
            momentum=MOMENTUM,
            nesterov=True,
            weight_decay=WEIGHT_DECAY,
        )
        self.optimizer.exclude_from_weight_decay(
            var_list=[v for v in self.model.trainable_variables if len(v.shape) <= 1]
        )
        loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=settings.label_smoothing)
        accuracy = keras.metrics.CategoricalAccuracy(name="accuracy")
        self.model.compile(
            optimizer=self.optimizer,
            loss=loss if self.outputs == 1 else [loss] * self.outputs,
            loss_weights=None if self.outputs == 1 else [1.0, *aux_weights],
            metrics=[accuracy] if self.outputs == 1 else [[accuracy]] + [[] for _ in aux_weights],
        )
        self.framework_params = int(self.model.count_params())

    def fit(self, start_epoch: int, recorder: _EpochRecorder, progress: EpochProgress) -> None:
        callback = _keras_callback(self, recorder, progress)
        self.model.fit(
            self.dataset,
            epochs=self.settings.epochs,
            initial_epoch=start_epoch,
            shuffle=False,  # TrainBatches shuffles, identically for both targets
            verbose=0,
            callbacks=[callback],
        )

    def predict(self, x_nchw: np.ndarray) -> np.ndarray:
        return _keras_predict(self.model, x_nchw)

    def save_checkpoint(self, path: Path) -> None:
        with atomic_path(path, suffix=".weights.h5") as tmp:
            self.model.save_weights(tmp)

    def save_resume_state(self, path: Path, epochs_done: int) -> None:
        arrays = {"epochs_done": np.asarray(epochs_done)}
        arrays |= {f"model_{i:05d}": w for i, w in enumerate(self.model.get_weights())}
        arrays |= {f"optimizer_{i:05d}": v.numpy() for i, v in enumerate(self.optimizer.variables)}
        with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)

    def load_resume_state(self, path: Path) -> int:
        try:
            with np.load(path, allow_pickle=False) as saved:  # plain arrays only: nothing to execute
                arrays = {k: saved[k] for k in saved.files}
            weights = [arrays[k] for k in sorted(arrays) if k.startswith("model_")]
            slots = [arrays[k] for k in sorted(arrays) if k.startswith("optimizer_")]
            self.model.set_weights(weights)
            self.optimizer.build(self.model.trainable_variables)
            if len(slots) != len(self.optimizer.variables):
                raise ValueError(f"{len(slots)} optimizer arrays for {len(self.optimizer.variables)} variables")
            for variable, value in zip(self.optimizer.variables, slots, strict=True):
                variable.assign(value)
            return int(arrays["epochs_done"])
        except Exception as exc:  # noqa: BLE001 - any unreadable or unfitting state is a bad resume directory
            raise TrainingError(f"cannot resume from {path}: {_first_line(exc)}") from None


def _keras_callback(trainer: _KerasTrainer, recorder: _EpochRecorder, progress: EpochProgress) -> Any:
    keras = _import_keras()
    epochs = trainer.settings.epochs
    batches = trainer.batches

    class EpochCallback(keras.callbacks.Callback):
        """Drives the shared progress display and records each epoch like the PyTorch loop does."""

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            trainer.dataset.epoch = epoch
            progress.start(epoch + 1, epochs, len(batches))
            self.started = time.perf_counter()

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            loss, accuracy = _keras_figures(logs or {})
            progress.update(batch + 1, batches.images_in(batch + 1), loss, accuracy)

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            seconds = time.perf_counter() - self.started
            loss, accuracy = _keras_figures(logs or {})
            recorder.end_epoch(epoch, loss, accuracy, batches.images_in(len(batches)), seconds)

    return EpochCallback()


def _keras_figures(logs: dict[str, Any]) -> tuple[float, float]:
    """The total loss and the main output's accuracy from Keras' logs (output names prefix the metric)."""
    accuracy = next((v for k, v in logs.items() if k == "accuracy" or k.endswith("_accuracy")), 0.0)
    return float(logs.get("loss", math.nan)), float(accuracy)


def _keras_predict(model: Any, x_nchw: np.ndarray) -> np.ndarray:
    outputs = model(datalib.to_nhwc(x_nchw), training=False)
    main = outputs[0] if isinstance(outputs, list | tuple) else outputs
    return main.numpy()


# --------------------------------------------------------------------------
# the public entry points


def train(
    spec: Any,
    target: str,
    data: str,
    out: Path | None = None,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 0.1,
    limit_train: int | None = None,
    limit_test: int | None = None,
    seed: int = 0,
    download: bool = False,
    resume: Path | None = None,
    label_smoothing: float = 0.0,
    *,
    progress: EpochProgress | None = None,
) -> dict[str, Any]:
    """Train `spec`'s generated model, score it on the test split each epoch, and save the run.

    Args:
        spec: the loaded spec (`inceptgen.load(...)`); its classes and input must match the data.
        target: "torch" or "keras".
        data: a dataset as `inceptgen.runtime.data.resolve_data` reads it.
        out: the run directory to create (ignored paths inside are never overwritten).
        epochs: total epochs; on resume, the total including those already done.
        batch_size: images per optimiser step.
        lr: peak learning rate of the warm-up + cosine schedule.
        limit_train: class-balanced subset size of the training split.
        limit_test: class-balanced subset size of the test split.
        seed: seeds the model's initial weights, subsets, shuffling, augmentation and dropout.
        download: fetch CIFAR-10 when `data` is "cifar10" and it is not cached.
        resume: a run directory to continue from its last finished epoch.
        label_smoothing: label smoothing of the training loss, in [0, 1).
        progress: the progress display (a live bar on terminals, one line per epoch always).

    Returns:
        The summary, also written to RUN_DIR/summary.json.

    Raises:
        TrainingError: bad settings, data that do not fit the model, an unusable run directory.
        TrainingInterruptedError: Ctrl-C; the last finished epoch is saved and can be resumed.
    """
    wall_start = time.perf_counter()
    settings = Settings(target, epochs, batch_size, lr, limit_train, limit_test, seed, label_smoothing)
    settings.validate()
    files = RunFiles(_run_dir(out, resume))
    if resume is not None and not files.run_json.is_file():
        raise TrainingError(f"nothing to resume in {files.root}: no run.json")
    if resume is None:
        _start_new_run(files)
    split = _load_split(spec, data, download, settings)
    source = spec.source(target)
    run_record = _run_record(spec, settings, split, source)
    if resume is not None:
        _check_resumable(files, _read_run_json(files.run_json), run_record)
    else:
        atomic_write(files.source(target), source)
        atomic_write(files.run_json, json.dumps(run_record, indent=2) + "\n")

    batches = TrainBatches(split.x_train, split.y_train, batch_size, split.mean, split.std, seed)
    trainer_type = _TorchTrainer if target == "torch" else _KerasTrainer
    trainer = trainer_type(spec, settings, batches, _aux_weights(spec))
    start_epoch = _resume_epoch(files, trainer, settings) if resume is not None else 0
    records = files.read_metrics()[:start_epoch]
    progress = progress or EpochProgress()
    recorder = _EpochRecorder(files, settings, split, trainer, progress, records, len(batches))
    progress.message(_start_line(spec, settings, split, len(batches), files, start_epoch))
    try:
        trainer.fit(start_epoch, recorder, progress)
    except KeyboardInterrupt:
        raise TrainingInterruptedError(_interrupted_message(files, target, recorder.epochs_done)) from None
    finally:
        progress.close()
    summary = _summary(spec, settings, split, trainer, records, files, time.perf_counter() - wall_start, start_epoch)
    atomic_write(files.summary, json.dumps(summary, indent=2) + "\n")
    progress.message(
        f"test accuracy {summary['test_accuracy']:.1%} after {epochs} epochs "
        f"({target}, {summary['wall_seconds']:.1f} s); saved {files.checkpoint(target)}"
    )
    return summary


def _resume_epoch(files: RunFiles, trainer: _Trainer, settings: Settings) -> int:
    state = files.resume_state(settings.target)
    if not state.is_file():
        raise TrainingError(f"nothing to resume in {files.root}: no epoch finished ({state.name} is missing)")
    done = trainer.load_resume_state(state)
    if done >= settings.epochs:
        raise TrainingError(
            f"{files.root} has already trained {done} epochs",
            hint=f"pass --epochs above {done} to train further",
        )
    return done


def _start_line(spec: Any, settings: Settings, split: Split, steps: int, files: RunFiles, start_epoch: int) -> str:
    what = f"resuming {files.root} after epoch {start_epoch}" if start_epoch else f"run directory {files.root}"
    return (
        f"training {spec.model.name} ({spec.checked.total_params:,} parameters) with {settings.target} "
        f"on {len(split.y_train):,} images, testing on {len(split.y_test):,}: {settings.epochs} epochs "
        f"of {steps} batches of {settings.batch_size}, peak lr {settings.lr:g}, seed {settings.seed}; {what}"
    )


def _interrupted_message(files: RunFiles, target: str, epochs_done: int) -> str:
    if epochs_done == 0:
        return "training interrupted before the first epoch finished; nothing was saved to resume"
    return (
        f"training interrupted; {files.checkpoint(target)} holds epoch {epochs_done}, "
        f"continue with --resume {files.root}"
    )


def _versions(target: str) -> dict[str, str]:
    import inceptgen

    versions = {"python": platform.python_version(), "numpy": np.__version__, "inceptgen": inceptgen.__version__}
    if target == "torch":
        import torch

        versions["torch"] = torch.__version__
    else:
        import keras
        import tensorflow as tf

        versions |= {"keras": keras.__version__, "tensorflow": tf.__version__}
    return versions


def _summary(
    spec: Any,
    settings: Settings,
    split: Split,
    trainer: _Trainer,
    records: list[dict[str, Any]],
    files: RunFiles,
    wall_seconds: float,
    start_epoch: int,
) -> dict[str, Any]:
    last = records[-1]
    return {
        "model": spec.model.name,
        "spec": spec.source_name,
        "target": settings.target,
        "test_accuracy": last["test_acc"],
        "test_loss": last["test_loss"],
        "train_accuracy": last["train_acc"],
        "train_loss": last["loss"],
        "epochs": settings.epochs,
        "resumed_after_epoch": start_epoch or None,
        "wall_seconds": round(wall_seconds, 2),
        "train_seconds": round(sum(r["seconds"] for r in records), 2),
        "images_per_s": round(float(np.mean([r["images_per_s"] for r in records])), 1),
        "params": {
            "total": spec.checked.total_params,
            "trainable": spec.checked.trainable_params,
            "keras": spec.checked.keras_params,
            "framework_count": trainer.framework_params,
        },
        "settings": asdict(settings)
        | {"momentum": MOMENTUM, "nesterov": True, "weight_decay": WEIGHT_DECAY, "warmup_fraction": WARMUP_FRACTION},
        "schedule": "linear warm-up, then cosine decay to zero, per step",
        "data": {
            "classes": list(split.classes),
            "train_images": len(split.y_train),
            "test_images": len(split.y_test),
            "mean": split.mean.tolist(),
            "std": split.std.tolist(),
        },
        "checkpoint": files.checkpoint(settings.target).name,
        "versions": _versions(settings.target),
        "platform": platform.platform(),
    }


def evaluate(
    spec: Any, target: str, checkpoint: Path, data: str, limit_test: int | None = None, download: bool = False
) -> dict[str, Any]:
    """Score a saved model on the test split.

    Images are normalised with the training statistics in `run.json` beside the
    checkpoint when there is one (as in training), otherwise with statistics
    computed from the data's training split.

    Args:
        spec: the spec the checkpoint was trained from.
        target: "torch" (`model.pt`, a state dict) or "keras" (`model.weights.h5`).
        checkpoint: the weights file.
        data: the dataset (see `train`).
        limit_test: class-balanced subset size of the test split.
        download: fetch CIFAR-10 when `data` is "cifar10" and it is not cached.

    Returns:
        {"accuracy", "loss", "images", "target", "checkpoint", "normalization"}.

    Raises:
        TrainingError: a missing or unfitting checkpoint, or data that do not fit the model.
    """
    _check_target(target)
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise TrainingError(f"checkpoint {checkpoint} does not exist")
    dataset = datalib.resolve_data(data, download=download)
    _check_model_fits_data(spec, dataset)
    run_json = checkpoint.parent / "run.json"
    if run_json.is_file():
        run = _read_run_json(run_json)
        mean = np.asarray(run["normalization"]["mean"], np.float32)
        std = np.asarray(run["normalization"]["std"], np.float32)
        subset_seed, normalization = int(run["settings"].get("seed", 0)), "run.json"
    else:
        mean, std = datalib.channel_stats(dataset.x_train)
        subset_seed, normalization = 0, "training split"
    x_test, y_test = datalib.balanced_subset(dataset.x_test, dataset.y_test, limit_test, subset_seed)
    predict = _torch_predictor(spec, checkpoint) if target == "torch" else _keras_predictor(spec, checkpoint)
    logits = np.concatenate([predict(xb) for xb in _test_batches(x_test, mean, std)])
    loss, accuracy = score(logits, y_test)
    return {
        "accuracy": accuracy,
        "loss": loss,
        "images": len(y_test),
        "target": target,
        "checkpoint": str(checkpoint),
        "normalization": normalization,
    }


def _torch_predictor(spec: Any, checkpoint: Path) -> Callable[[np.ndarray], np.ndarray]:
    state = _torch_load(checkpoint)
    if not isinstance(state, dict):
        raise TrainingError(f"{checkpoint} is not a PyTorch state dict")
    model = spec.to_torch()
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise TrainingError(f"{checkpoint} does not fit {spec.model.name}: {_first_line(exc)}") from None
    model.eval()
    return lambda x: _torch_predict(model, x)


def _keras_predictor(spec: Any, checkpoint: Path) -> Callable[[np.ndarray], np.ndarray]:
    if not checkpoint.name.endswith(".weights.h5"):
        raise TrainingError(f"Keras weights files end in .weights.h5, got {checkpoint.name}")
    model = _keras_model(spec)
    try:
        with warnings.catch_warnings():
            # Keras loads what it can and only warns about layers it skipped; a partial load is a bad checkpoint.
            warnings.simplefilter("error", UserWarning)
            model.load_weights(checkpoint)
    except Exception as exc:  # noqa: BLE001 - any unreadable or unfitting file is the user's bad checkpoint
        raise TrainingError(f"cannot load {checkpoint} into {spec.model.name}: {_first_line(exc)}") from None
    return lambda x: _keras_predict(model, x)
