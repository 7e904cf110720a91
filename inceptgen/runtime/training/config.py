"""What one training run is asked to do: every setting, validated before anything is built."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from inceptgen.runtime.training.errors import TrainingError
from inceptgen.runtime.training.schedule import SCHEDULES
from inceptgen.targets import TARGET_NAMES

__all__ = ["OPTIMIZERS", "PRECISIONS", "RESUME_KEYS", "TrainConfig"]

OPTIMIZERS = ("sgd", "adamw")
PRECISIONS = ("32", "bf16", "16")
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")

#: Settings a resumed run must share with the run it continues: they fix the data, the
#: batches, the schedule and the update rule. Epochs may grow; device, precision,
#: workers and process count may change (the global batch stays the same).
RESUME_KEYS = (
    "batch_size",
    "lr",
    "limit_train",
    "limit_test",
    "seed",
    "label_smoothing",
    "optimizer",
    "momentum",
    "weight_decay",
    "clip_grad_norm",
    "warmup_fraction",
    "schedule",
)

#: Options that only one framework has: option -> (target, what the other target offers).
_ONLY_FOR = {
    "channels_last": ("torch", None),
    "compile": ("torch", "--jit-compile"),
    "sync_bn": ("torch", None),
    "jit_compile": ("keras", "--compile"),
    "replicas": ("keras", "torchrun --nproc-per-node N"),
}


@dataclass(frozen=True)
class TrainConfig:
    """The settings of a run (saved in run.json).

    Attributes:
        target: "torch" or "keras".
        epochs: total epochs; on resume, the total including those already done.
        batch_size: the global batch: images per optimiser step over all processes and replicas.
        lr: peak learning rate of the warm-up + cosine schedule.
        limit_train: class-balanced subset size of the training split.
        limit_test: class-balanced subset size of the test split.
        seed: seeds initial weights, subsets, shuffling, augmentation and dropout.
        label_smoothing: of the training loss, in [0, 1).
        optimizer: "sgd" (Nesterov momentum) or "adamw" (betas 0.9, 0.999; eps 1e-8).
        momentum: SGD's momentum.
        weight_decay: decoupled weight decay of kernels and dense weights (not biases or norms).
        clip_grad_norm: clip the global gradient norm to this value; None leaves it.
        warmup_fraction: fraction of all steps spent warming up linearly.
        schedule: "cosine" (decay to zero after the warm-up) or "step" (divided by 10 at a third
            and at two thirds of the run).
        recipe: the named recipe the settings came from (`inceptgen.runtime.training.recipes`).
        device: "auto", "cpu", "cuda", "cuda:N" or "mps".
        precision: "32", "bf16" (autocast / mixed_bfloat16) or "16" (with loss scaling).
        channels_last: PyTorch: NHWC memory format for model and inputs.
        compile: PyTorch: `torch.compile` the model.
        jit_compile: Keras: XLA compilation of the train step.
        workers: data-loading workers (DataLoader processes, tf.data parallel calls).
        sync_bn: PyTorch distributed: SyncBatchNorm across processes.
        replicas: Keras: MirroredStrategy over this many devices (GPUs, or logical CPUs).
        tensorboard: also write TensorBoard event files under RUN_DIR/tensorboard.
    """

    target: str
    epochs: int = 10
    batch_size: int = 128
    lr: float = 0.1
    limit_train: int | None = None
    limit_test: int | None = None
    seed: int = 0
    label_smoothing: float = 0.0
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    clip_grad_norm: float | None = None
    warmup_fraction: float = 0.15
    schedule: str = "cosine"
    recipe: str | None = None
    device: str = "auto"
    precision: str = "32"
    channels_last: bool = False
    compile: bool = False
    jit_compile: bool = False
    workers: int = 0
    sync_bn: bool = False
    replicas: int | None = None
    tensorboard: bool = False

    @classmethod
    def make(cls, target: str, **settings: Any) -> TrainConfig:
        """A validated config; unknown settings are refused by name."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise TypeError(f"unknown training setting {unknown[0]!r}")
        config = cls(target=target, **{k: v for k, v in settings.items() if v is not None or k in _NULLABLE})
        config.validate()
        return config

    def to_dict(self) -> dict[str, Any]:
        """The settings as run.json stores them."""
        return asdict(self)

    def validate(self) -> None:
        """Refuse impossible settings with one line each (hardware is checked when the run starts)."""
        if self.target not in TARGET_NAMES:
            raise TrainingError(f"unknown target {self.target!r}", hint=f"use {' or '.join(TARGET_NAMES)}")
        _at_least("epochs", self.epochs, 1)
        _at_least("batch size", self.batch_size, 1)
        _at_least("workers", self.workers, 0)
        _at_least("seed", self.seed, 0, "must be zero or positive")
        _positive_number("learning rate", self.lr)
        _in_range("label smoothing", self.label_smoothing, 0.0, 1.0, "[0, 1)")
        _in_range("momentum", self.momentum, 0.0, 1.0, "[0, 1)")
        _in_range("warm-up fraction", self.warmup_fraction, 0.0, 1.0, "[0, 1)")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise TrainingError(f"weight decay must be zero or positive, got {self.weight_decay}")
        if self.clip_grad_norm is not None:
            _positive_number("gradient clipping norm", self.clip_grad_norm)
        for name in ("limit_train", "limit_test"):
            limit = getattr(self, name)
            if limit is not None and limit < 1:
                raise TrainingError(f"{name.replace('_', '-')} must be at least 1, got {limit}")
        self._validate_choices()

    def _validate_choices(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise TrainingError(f"unknown optimizer {self.optimizer!r}", hint=f"use {' or '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise TrainingError(f"unknown schedule {self.schedule!r}", hint=f"use {' or '.join(SCHEDULES)}")
        if self.precision not in PRECISIONS:
            raise TrainingError(f"unknown precision {self.precision!r}", hint="use 32, bf16 or 16")
        if not _DEVICE.fullmatch(self.device):
            raise TrainingError(f"unknown device {self.device!r}", hint="use auto, cpu, cuda, cuda:N or mps")
        if self.replicas is not None and self.replicas < 1:
            raise TrainingError(f"replicas must be at least 1, got {self.replicas}")
        for option, (target, instead) in _ONLY_FOR.items():
            if getattr(self, option) not in (False, None) and self.target != target:
                flag = "--" + option.replace("_", "-")
                hint = f"with {self.target}, use {instead}" if instead else None
                raise TrainingError(f"{flag} is a {target} option; it does nothing for {self.target}", hint=hint)


_NULLABLE = frozenset({"limit_train", "limit_test", "clip_grad_norm", "replicas", "recipe"})


def _at_least(name: str, value: int, minimum: int, wording: str | None = None) -> None:
    if value < minimum:
        raise TrainingError(f"{name} {wording or f'must be at least {minimum}'}, got {value}")


def _positive_number(name: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise TrainingError(f"{name} must be a positive number, got {value}")


def _in_range(name: str, value: float, low: float, high: float, shown: str) -> None:
    if not low <= value < high:
        raise TrainingError(f"{name} must be in {shown}, got {value}")
