"""`inceptgen evaluate`: top-1, top-5 and loss of a saved checkpoint on the test split alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from inceptgen.runtime import data as datalib
from inceptgen.runtime.data import Dataset
from inceptgen.runtime.training.batches import TestBatches, score
from inceptgen.runtime.training.config import TrainConfig
from inceptgen.runtime.training.errors import TrainingError
from inceptgen.runtime.training.prepare import check_model_fits, normalisation
from inceptgen.runtime.training.run_dir import read_run_json, verify_digest
from inceptgen.targets import target as registered

__all__ = ["evaluate"]


def evaluate(
    spec: Any,
    target: str,
    checkpoint: Path,
    data: str,
    limit_test: int | None = None,
    download: bool = False,
    *,
    device: str = "auto",
    precision: str = "32",
    workers: int = 0,
) -> dict[str, Any]:
    """Score a saved model on the test split.

    Images are normalised with the statistics in `run.json` beside the checkpoint when
    there is one (as in training); otherwise from the data's training split, which is
    then needed too. The checkpoint's `.sha256` is checked when there is one.

    Args:
        spec: the spec the checkpoint was trained from.
        target: "torch" (`model.pt`, a state dict) or "keras" (`model.weights.h5`).
        checkpoint: the weights file.
        data: the dataset (see `inceptgen.runtime.data.resolve_data`).
        limit_test: class-balanced subset size of the test split.
        download: fetch CIFAR-10/100 when `data` is the word and it is not cached.
        device: as for training ("auto", "cpu", "cuda", "cuda:N", "mps").
        precision: "32", "bf16" or "16" (autocast / mixed-precision policy).
        workers: data-loading workers (DataLoader processes, tf.data parallel calls).

    Returns:
        {"accuracy", "top5", "loss", "images", "target", "checkpoint", "normalization", "digest"}.

    Raises:
        TrainingError: a missing, corrupt or unfitting checkpoint, or data that do not fit the model.
    """
    config = TrainConfig.make(target, device=device, precision=precision, workers=workers, limit_test=limit_test)
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise TrainingError(f"checkpoint {checkpoint} does not exist")
    digest = "verified" if verify_digest(checkpoint) else "none beside the checkpoint"
    run = _run_record(checkpoint)
    dataset = _dataset(data, download, run, checkpoint)
    size = check_model_fits(spec, dataset)
    mean, std, normalised_by, seed = _normalisation(run, dataset)
    test = dataset.test
    if limit_test is not None:
        test = test.take(datalib.balanced_indices(test.labels, limit_test, seed))
    batches = TestBatches(test, mean, std, size)
    predict = registered(target).trainer_module().predictor(spec, checkpoint, config)
    figures = score(np.concatenate([predict(x) for x in _iterate(batches, target, workers)]), test.labels)
    return {
        "accuracy": figures["top1"],
        "top5": figures["top5"],
        "loss": figures["loss"],
        "images": len(test),
        "target": target,
        "checkpoint": str(checkpoint),
        "normalization": normalised_by,
        "digest": digest,
    }


def _dataset(data: str, download: bool, run: dict[str, Any] | None, checkpoint: Path) -> Dataset:
    """The test split (labelled as the run was); the training split too when there is no run.json."""
    if run is not None:
        return datalib.resolve_data(data, download=download, splits=("test",), classes=tuple(run["classes"]))
    try:
        return datalib.resolve_data(data, download=download)
    except datalib.DataError as err:
        raise TrainingError(
            f"no run.json beside {checkpoint}, and no training split to normalise by ({err.message})"
        ) from None


def _run_record(checkpoint: Path) -> dict[str, Any] | None:
    run_json = checkpoint.parent / "run.json"
    return read_run_json(run_json) if run_json.is_file() else None


def _normalisation(run: dict[str, Any] | None, dataset: Dataset) -> tuple[np.ndarray, np.ndarray, str, int]:
    if run is not None:
        norm = run["normalization"]
        seed = run["settings"].get("seed", 0)
        return np.asarray(norm["mean"], np.float32), np.asarray(norm["std"], np.float32), "run.json", int(seed or 0)
    assert dataset.train is not None  # read when there is no run.json
    mean, std, source = normalisation(dataset, dataset.train)
    return mean, std, source, 0


def _iterate(batches: TestBatches, target: str, workers: int) -> Any:
    """The test batches in order; decoded by `workers` DataLoader processes or tf.data calls."""
    if workers == 0:
        return (batches.batch(i) for i in range(len(batches)))
    if target == "torch":
        from torch.utils.data import DataLoader

        loader = DataLoader(range(len(batches)), batch_size=None, num_workers=workers, collate_fn=batches.batch)
        return (np.asarray(x) for x in loader)
    from inceptgen.runtime.frameworks import import_tensorflow

    tf = import_tensorflow()
    steps = tf.data.Dataset.range(len(batches))
    load = steps.map(
        lambda i: tf.numpy_function(lambda j: batches.batch(int(j)), [i], tf.float32),
        num_parallel_calls=workers,
        deterministic=True,
    )
    return (x.numpy() for x in load.prefetch(tf.data.AUTOTUNE))
