"""What a run tells its user: the start line, the summary at the end, the interruption notice."""

from __future__ import annotations

import platform
from typing import Any

import numpy as np

from inceptgen.runtime.training.config import TrainConfig
from inceptgen.runtime.training.run_dir import RunFiles

__all__ = ["interrupted_message", "start_line", "summary"]


def start_line(spec: Any, config: TrainConfig, prepared: Any, where: str, start_epoch: int, files: RunFiles) -> str:
    """The one line printed before the first step."""
    what = f"resuming {files.root} after epoch {start_epoch}" if start_epoch else f"run directory {files.root}"
    skipped = f" ({len(prepared.skipped)} unreadable images skipped)" if prepared.skipped else ""
    return (
        f"training {spec.model.name} ({spec.checked.total_params:,} parameters) with {config.target} on {where}, "
        f"precision {config.precision}: {prepared.train_images:,} images{skipped}, testing on "
        f"{prepared.test_images:,}; {config.epochs} epochs of {prepared.steps} batches of {config.batch_size}, "
        f"{config.optimizer} peak lr {config.lr:g}, seed {config.seed}; {what}"
    )


def interrupted_message(files: RunFiles, target: str, epochs_done: int) -> str:
    """Ctrl-C's notice, from what is committed on disk."""
    if epochs_done == 0:
        return f"training interrupted before the first epoch finished; {files.root} starts over when run again"
    saved = f"{files.checkpoint(target)} holds epoch {epochs_done}"
    return f"training interrupted; {saved}, continue with --resume {files.root}"


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


def summary(
    spec: Any,
    config: TrainConfig,
    prepared: Any,
    records: list[dict[str, Any]],
    run: dict[str, Any],
) -> dict[str, Any]:
    """summary.json: the final figures, throughput, and everything needed to reproduce the run."""
    last = records[-1]
    best = max(records, key=lambda r: r["test_acc"])
    return {
        "model": spec.model.name,
        "spec": spec.source_name,
        "target": config.target,
        "test_accuracy": last["test_acc"],
        "test_top5": last["test_top5"],
        "test_loss": last["test_loss"],
        "best_test_accuracy": best["test_acc"],
        "best_epoch": best["epoch"],
        "train_accuracy": last["train_acc"],
        "train_loss": last["loss"],
        "epochs": config.epochs,
        "resumed_after_epoch": run["start_epoch"] or None,
        "wall_seconds": round(run["wall_seconds"], 2),
        "train_seconds": round(sum(r["seconds"] for r in records), 2),
        "seconds_per_epoch": round(float(np.mean([r["seconds"] for r in records])), 2),
        "images_per_s": round(float(np.mean([r["images_per_s"] for r in records])), 1),
        "placement": run["placement"],
        "params": {
            "total": spec.checked.total_params,
            "trainable": spec.checked.trainable_params,
            "keras": spec.checked.keras_params,
            "framework_count": run["framework_params"],
        },
        "settings": config.to_dict(),
        "schedule": "linear warm-up, then cosine decay to zero, per step",
        "data": prepared.record(),
        "checkpoint": run["checkpoint"],
        "best_checkpoint": run["best_checkpoint"],
        "versions": _versions(config.target),
        "platform": platform.platform(),
    }
