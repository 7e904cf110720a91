"""Training and evaluation of generated models in both frameworks, in one process (issues 7, 15, 18).

Small, fast runs of a tiny inline spec on a few hundred images of the shared CIFAR-10
subset check the mechanics (files, metrics, determinism, Ctrl-C, resume, evaluate, errors,
precision, workers); `test_cifar_mini_reaches_40_percent` is CI's acceptance test, a real
run of `@cifar_mini` on the whole subset. Distributed runs are in test_distributed.py,
kill -9 in test_faults.py.
"""

from __future__ import annotations

import json
import math
import pickle
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import inceptgen
from inceptgen import InceptgenError
from inceptgen.runtime import data as datalib
from inceptgen.runtime.progress import EpochProgress
from inceptgen.runtime.train import TrainingError, TrainingInterruptedError, evaluate, learning_rate_at, train
from inceptgen.runtime.training import BatchPlan, TrainBatches, TrainConfig, score
from inceptgen.runtime.training import schedule as schedulelib
from tests.runtime.trainkit import SMALL, TARGETS, TINY_SPEC, cifar_path, debris, metrics, one_thread  # noqa: F401

CHECKPOINT = {"torch": "model.pt", "keras": "model.weights.h5"}
BEST = {"torch": "best.pt", "keras": "best.weights.h5"}


@pytest.fixture(scope="module")
def spec() -> Any:
    return inceptgen.load(TINY_SPEC)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, spec: Any) -> dict[str, tuple[Path, dict[str, Any]]]:
    """One uninterrupted small run per target: (run directory, summary)."""
    done = {}
    for target in TARGETS:
        out = tmp_path_factory.mktemp(f"run_{target}")
        done[target] = (out, train(spec, target, cifar_path(), out=out, **SMALL))
    return done


def small_batches(n: int = 23, batch: int = 5, seed: int = 3, world: int = 1, rank: int = 0) -> TrainBatches:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 3, 8, 8), dtype=np.uint8)
    y = np.arange(n, dtype=np.int64) % 5
    mean, std = datalib.channel_stats(x)
    return TrainBatches(datalib.Split(y, images=x), BatchPlan(n, batch, seed, world, rank), mean, std, (8, 8))


# --------------------------------------------------------------------------
# the shared pieces


def test_schedule_warms_up_linearly_then_decays_by_cosine_to_zero() -> None:
    total, peak = 100, 0.2
    rates = [learning_rate_at(step, total, peak) for step in range(total)]
    warmup = round(schedulelib.WARMUP_FRACTION * total)
    assert rates[:warmup] == pytest.approx([peak * (s + 1) / warmup for s in range(warmup)])
    assert rates[warmup] == pytest.approx(peak)
    assert all(a >= b for a, b in zip(rates[warmup:], rates[warmup + 1 :], strict=False))
    assert 0 < rates[-1] < 0.001 * peak
    assert learning_rate_at(0, 1, peak) == peak  # a one-step run is all warm-up


def test_train_batches_are_a_pure_function_of_seed_epoch_and_index() -> None:
    batches = small_batches()
    assert len(batches) == 4  # full batches only: 3 images are left out of each epoch
    a = batches.batch(1, 2)
    batches.batch(0, 0)  # another epoch in between changes nothing
    b = small_batches().batch(1, 2)
    assert a[0].dtype == np.float32 and a[0].shape == (5, 3, 8, 8) and a[0].flags.c_contiguous
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    epoch0 = np.concatenate([batches.batch(0, i)[1] for i in range(4)])
    epoch1 = np.concatenate([batches.batch(1, i)[1] for i in range(4)])
    assert len(set(epoch0.tolist())) > 1 and not np.array_equal(epoch0, epoch1)
    assert len(small_batches(n=3)) == 1  # less than one batch: one small batch


def test_the_augmentation_is_unchanged_since_0_1() -> None:
    """One process draws exactly what `datalib.augment` draws: old seeds give the old batches."""
    batches = small_batches()
    chosen = batches.indices(2, 1)
    images = datalib.normalize(batches.split.images[chosen], batches.mean, batches.std)
    expected = datalib.augment(images, np.random.default_rng([3, 2, 1]))
    np.testing.assert_array_equal(batches.batch(2, 1)[0], expected)


def test_score_is_cross_entropy_top1_and_top5() -> None:
    import torch

    logits = np.random.default_rng(1).normal(size=(40, 8)).astype(np.float32) * 5
    labels = np.random.default_rng(2).integers(0, 8, 40)
    figures = score(logits, labels)
    expected = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)).item()
    assert figures["loss"] == pytest.approx(expected, rel=1e-6)
    assert figures["top1"] == pytest.approx(np.mean(logits.argmax(1) == labels))
    top5 = np.argsort(-logits, axis=1)[:, :5]
    assert figures["top5"] == pytest.approx(np.mean([label in row for label, row in zip(labels, top5, strict=True)]))
    assert figures["top1"] < figures["top5"] < 1


def _torch_and_keras_step(optimizer: str) -> tuple[np.ndarray, np.ndarray]:
    """Six steps of each framework's optimiser on the same gradients under a moving learning rate."""
    import keras
    import torch

    from inceptgen.runtime.training.optim_keras import build_keras_optimizer
    from inceptgen.runtime.training.optim_torch import build_optimizer, build_schedule

    rng = np.random.default_rng(2)
    start = rng.normal(size=(3, 4)).astype(np.float32)
    grads = [rng.normal(size=(3, 4)).astype(np.float32) for _ in range(6)]
    config = TrainConfig.make("torch", optimizer=optimizer, lr=0.3, weight_decay=0.01, warmup_fraction=0.3, epochs=1)
    module = torch.nn.Module()
    module.w = torch.nn.Parameter(torch.from_numpy(start.copy()))
    ours = build_optimizer(module, config)
    schedule = build_schedule(ours, config, total_steps=6)
    variable = keras.Variable(start.copy())
    theirs = build_keras_optimizer(config, 6, [variable])
    for g in grads:
        module.w.grad = torch.from_numpy(g)
        ours.step()
        schedule.step()
        theirs.apply_gradients([(keras.ops.convert_to_tensor(g), variable)])
    return module.w.detach().numpy(), np.asarray(variable)


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_torch_and_keras_optimizers_step_alike(optimizer: str) -> None:
    """Keras' SGD is written out for PyTorch; torch's AdamW epsilon placement for Keras: one rule each."""
    torch_weights, keras_weights = _torch_and_keras_step(optimizer)
    np.testing.assert_allclose(torch_weights, keras_weights, rtol=1e-6, atol=1e-7)


def test_the_optimizers_differ_and_the_schedule_moves() -> None:
    """The comparison above would pass for a rule that does nothing: the two optimisers move apart."""
    sgd, _ = _torch_and_keras_step("sgd")
    adamw, _ = _torch_and_keras_step("adamw")
    assert not np.allclose(sgd, adamw, atol=1e-3)


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_torch_and_keras_train_alike_from_the_same_weights(spec: Any, optimizer: str) -> None:
    """Same batches, optimiser, schedule, loss and aux weights: the two epoch losses agree to float precision."""
    from inceptgen.runtime.convert import torch_to_keras
    from inceptgen.runtime.frameworks import import_tensorflow
    from inceptgen.runtime.training.devices import torch_placement
    from inceptgen.runtime.training.keras_setup import KerasPlacement
    from inceptgen.runtime.training.loop_keras import KerasTrainer
    from inceptgen.runtime.training.loop_torch import TorchTrainer

    dataset = datalib.load_cifar10(cifar_path())
    x, y = datalib.balanced_subset(dataset.x_train, dataset.y_train, 200, 0)
    mean, std = datalib.channel_stats(x)
    batches = TrainBatches(datalib.Split(y, images=x), BatchPlan(200, 50, 0), mean, std, (32, 32))
    lr = 0.1 if optimizer == "sgd" else 0.003
    config = TrainConfig.make("torch", epochs=1, batch_size=50, lr=lr, label_smoothing=0.1, optimizer=optimizer)
    torch_run = TorchTrainer(spec, config, batches, [0.3], torch_placement("cpu", "32"))
    keras_placement = KerasPlacement(import_tensorflow().distribute.get_strategy(), 1, "the CPU")
    keras_run = KerasTrainer(spec, TrainConfig.make("keras", **_same(config)), batches, [0.3], keras_placement)
    torch_to_keras(torch_run.module, keras_run.model)

    class Epochs:
        def __init__(self) -> None:
            self.figures: list[tuple[float, float]] = []

        def end_epoch(self, epoch: int, loss: float, accuracy: float, images: int, seconds: float) -> None:
            self.figures.append((loss, accuracy))

    results = []
    for trainer in (torch_run, keras_run):
        epochs = Epochs()
        trainer.fit(0, epochs, EpochProgress(live=False))  # type: ignore[arg-type]
        results.append(epochs.figures[0])
    (torch_loss, torch_acc), (keras_loss, keras_acc) = results
    assert keras_loss == pytest.approx(torch_loss, rel=1e-4)
    assert keras_acc == pytest.approx(torch_acc)
    probe = datalib.normalize(dataset.x_test[:50], mean, std)
    np.testing.assert_allclose(keras_run.predict(probe), torch_run.predict(probe), atol=1e-2)


def _same(config: TrainConfig) -> dict[str, Any]:
    return {k: v for k, v in config.to_dict().items() if k != "target"}


# --------------------------------------------------------------------------
# a run, per target


@pytest.mark.parametrize("target", TARGETS)
def test_a_run_writes_its_files(runs: dict, target: str) -> None:
    out, summary = runs[target]
    names = ("run.json", "metrics.jsonl", "summary.json", CHECKPOINT[target], BEST[target], f"model_{target}.py")
    for name in names:
        assert (out / name).is_file(), name
    for name in (CHECKPOINT[target], BEST[target]):
        assert (out / f"{name}.sha256").read_text().split() == [_sha256(out / name), name]
    assert debris(out) == []  # atomic writes leave no temporary files
    lines = metrics(out)
    assert [line["epoch"] for line in lines] == [1, 2]
    for line in lines:
        assert set(line) >= {"epoch", "loss", "train_acc", "test_acc", "test_top5", "seconds", "images_per_s", "lr"}
        assert math.isfinite(line["loss"]) and 0 <= line["test_acc"] <= line["test_top5"] <= 1
        assert line["images_per_s"] > 0
    assert json.loads((out / "summary.json").read_text()) == summary
    assert summary["test_accuracy"] == lines[-1]["test_acc"] and summary["test_top5"] == lines[-1]["test_top5"]
    assert summary["best_test_accuracy"] == max(line["test_acc"] for line in lines)
    assert summary["target"] == target and summary["epochs"] == 2 and summary["seconds_per_epoch"] > 0
    assert summary["params"]["total"] == summary["params"]["trainable"] > 0
    assert summary["data"]["train_images"] == 200 and summary["data"]["test_images"] == 100
    assert summary["data"]["normalization"]["from"] == "training split"
    assert summary["settings"]["optimizer"] == "sgd" and summary["settings"]["precision"] == "32"
    assert target in summary["versions"]
    assert (out / f"model_{target}.py").read_text() == inceptgen.load(TINY_SPEC).source(target)


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("target", TARGETS)
def test_evaluate_reproduces_the_final_test_accuracy(runs: dict, spec: Any, target: str) -> None:
    out, summary = runs[target]
    result = evaluate(spec, target, out / summary["checkpoint"], cifar_path(), limit_test=100)
    assert result["images"] == 100 and result["normalization"] == "run.json" and result["digest"] == "verified"
    assert result["accuracy"] == summary["test_accuracy"] and result["top5"] == summary["test_top5"]
    assert result["loss"] == pytest.approx(summary["test_loss"], rel=1e-5)
    best = evaluate(spec, target, out / summary["best_checkpoint"], cifar_path(), limit_test=100)
    assert best["accuracy"] == summary["best_test_accuracy"]


def test_evaluate_needs_only_the_test_split(runs: dict, spec: Any, tmp_path: Path) -> None:
    """A CIFAR folder with just test_batch and batches.meta is enough beside a run's run.json."""
    out, summary = runs["torch"]
    source = Path(cifar_path()) / "cifar-10-batches-py"
    test_only = tmp_path / "cifar-10-batches-py"
    test_only.mkdir()
    for name in ("test_batch", "batches.meta"):
        shutil.copy(source / name, test_only / name)
    result = evaluate(spec, "torch", out / "model.pt", str(test_only), limit_test=100)
    assert result["accuracy"] == summary["test_accuracy"]
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(out / "model.pt", lone / "model.pt")  # no run.json beside it: the statistics need train/
    with pytest.raises(TrainingError, match="no training split to normalise by"):
        evaluate(spec, "torch", lone / "model.pt", str(test_only))


class InterruptIn(EpochProgress):
    """Raises KeyboardInterrupt (as Ctrl-C does) after `step` batches of epoch `epoch`."""

    def __init__(self, epoch: int, step: int) -> None:
        super().__init__(live=False)
        self.at = (epoch, step)
        self.epoch = 0

    def start(self, epoch: int, epochs: int, steps: int) -> None:
        self.epoch = epoch
        super().start(epoch, epochs, steps)

    def update(self, steps_done: int, images_done: int, loss: float, accuracy: float) -> None:
        if (self.epoch, steps_done) == self.at:
            raise KeyboardInterrupt


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory, spec: Any) -> dict[str, Path]:
    """Per target, the run of `runs` again, stopped by Ctrl-C at the end of epoch 2's batches."""
    done = {}
    for target in TARGETS:
        out = tmp_path_factory.mktemp(f"interrupted_{target}")
        with pytest.raises(TrainingInterruptedError, match="holds epoch 1, continue with --resume") as caught:
            train(spec, target, cifar_path(), out=out, progress=InterruptIn(epoch=2, step=4), **SMALL)
        assert "\n" not in str(caught.value)
        assert isinstance(caught.value.__context__, KeyboardInterrupt)  # the CLI exits 130 on it
        done[target] = out
    return done


@pytest.mark.parametrize("target", TARGETS)
def test_same_seed_and_data_give_the_same_first_epoch(runs: dict, interrupted: dict, target: str) -> None:
    first, second = metrics(runs[target][0])[0], metrics(interrupted[target])[0]
    assert second["loss"] == first["loss"]
    assert second["train_acc"] == first["train_acc"] and second["test_acc"] == first["test_acc"]


@pytest.mark.parametrize("target", TARGETS)
def test_ctrl_c_keeps_the_last_epoch_and_resume_finishes_the_run(
    runs: dict, interrupted: dict, spec: Any, target: str
) -> None:
    out = interrupted[target]
    assert [line["epoch"] for line in metrics(out)] == [1]
    assert not (out / "summary.json").exists()
    assert debris(out) == []
    saved = evaluate(spec, target, out / CHECKPOINT[target], cifar_path(), limit_test=100)
    assert saved["accuracy"] == metrics(out)[0]["test_acc"]  # the checkpoint is epoch 1, and it loads

    summary = train(spec, target, cifar_path(), resume=out, **SMALL)
    lines = metrics(out)
    assert [line["epoch"] for line in lines] == [1, 2]
    assert summary["resumed_after_epoch"] == 1 and summary["test_accuracy"] == lines[1]["test_acc"]
    # Batches, seeds, weights, optimiser and schedule all resume: epoch 2 is the uninterrupted run's epoch 2.
    uninterrupted = metrics(runs[target][0])
    assert lines[1]["loss"] == pytest.approx(uninterrupted[1]["loss"], rel=1e-5)
    assert lines[1]["test_acc"] == pytest.approx(uninterrupted[1]["test_acc"], abs=0.011)
    assert lines[1]["lr"] == uninterrupted[1]["lr"]


def test_ctrl_c_in_the_first_epoch_lets_the_run_start_over(spec: Any, tmp_path: Path) -> None:
    with pytest.raises(TrainingInterruptedError, match="before the first epoch finished; .* starts over"):
        train(spec, "torch", cifar_path(), out=tmp_path, progress=InterruptIn(epoch=1, step=4), **SMALL)
    assert (tmp_path / "run.json").is_file() and not (tmp_path / "resume.pt").exists()
    again = train(spec, "torch", cifar_path(), out=tmp_path, **(SMALL | {"epochs": 1}))  # --out: starts over
    assert again["epochs"] == 1 and [line["epoch"] for line in metrics(tmp_path)] == [1]
    other = tmp_path / "other"
    with pytest.raises(TrainingInterruptedError):
        train(spec, "torch", cifar_path(), out=other, progress=InterruptIn(epoch=1, step=4), **SMALL)
    resumed = train(spec, "torch", cifar_path(), resume=other, **(SMALL | {"epochs": 1}))  # --resume: also
    assert resumed["resumed_after_epoch"] is None


def test_ctrl_c_during_the_commit_waits_for_it(spec: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C between the resume state and the metrics: the epoch still lands whole, and the message says so."""
    import os
    import signal

    from inceptgen.runtime.training import journal as journallib

    real = journallib.write_digest

    def interrupted_digest(path: Path) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # arrives mid-commit, after the resume state
        real(path)

    monkeypatch.setattr(journallib, "write_digest", interrupted_digest)
    with pytest.raises(TrainingInterruptedError, match="holds epoch 1"):
        train(spec, "torch", cifar_path(), out=tmp_path, **SMALL)
    assert [line["epoch"] for line in metrics(tmp_path)] == [1]
    assert (tmp_path / "model.pt.sha256").read_text().split()[0] == _sha256(tmp_path / "model.pt")


# --------------------------------------------------------------------------
# precision, workers, TensorBoard


@pytest.mark.parametrize("target", TARGETS)
def test_bf16_on_the_cpu_trains_and_evaluates(spec: Any, tmp_path: Path, target: str) -> None:
    summary = train(spec, target, cifar_path(), out=tmp_path, precision="bf16", **(SMALL | {"epochs": 1}))
    assert summary["settings"]["precision"] == "bf16" and math.isfinite(summary["train_loss"])
    result = evaluate(spec, target, tmp_path / CHECKPOINT[target], cifar_path(), limit_test=100, precision="bf16")
    assert result["accuracy"] == pytest.approx(summary["test_accuracy"], abs=0.03)


def test_workers_give_the_batches_of_no_workers() -> None:
    """DataLoader processes and tf.data parallel calls build the same batches, in the same order."""
    from inceptgen.runtime.training.pipeline_keras import KerasBatches
    from inceptgen.runtime.training.pipeline_torch import train_loader

    batches = small_batches(n=40, batch=8)
    torch_runs = [[x.numpy() for x, _ in train_loader(batches, 2, 0, workers, False)] for workers in (0, 2)]
    keras_runs = [[x.numpy() for x, _ in KerasBatches(batches, 1, 5).dataset(0, 10, w)] for w in (0, 2)]
    assert len(torch_runs[0]) == len(keras_runs[0]) == 10
    for a, b, c, d in zip(*torch_runs, *keras_runs, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(datalib.to_nhwc(a), c)
        np.testing.assert_array_equal(c, d)


def test_a_run_with_workers_matches_one_without(runs: dict, spec: Any, tmp_path: Path) -> None:
    train(spec, "torch", cifar_path(), out=tmp_path, workers=2, **SMALL)
    assert [m["loss"] for m in metrics(tmp_path)] == [m["loss"] for m in metrics(runs["torch"][0])]


def test_compiled_channels_last_training_follows_the_eager_run(runs: dict, spec: Any, tmp_path: Path) -> None:
    """torch.compile (inductor) and NHWC memory change kernels, not the function: the same losses to 1e-4."""
    train(spec, "torch", cifar_path(), out=tmp_path, compile=True, channels_last=True, **SMALL)
    eager = [m["loss"] for m in metrics(runs["torch"][0])]
    assert [m["loss"] for m in metrics(tmp_path)] == pytest.approx(eager, rel=1e-4)


@pytest.mark.parametrize("target", TARGETS)
def test_tensorboard_event_files(spec: Any, tmp_path: Path, target: str) -> None:
    train(spec, target, cifar_path(), out=tmp_path, tensorboard=True, **(SMALL | {"epochs": 1}))
    events = list((tmp_path / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and all(e.stat().st_size > 0 for e in events)


# --------------------------------------------------------------------------
# user errors: one-line InceptgenError messages, nothing written


def _garbage(path: Path) -> Path:
    path.write_bytes(b"not a checkpoint at all")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"target": "jax"}, "unknown target"),
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"batch_size": 0}, "batch size must be at least 1"),
        ({"lr": -1.0}, "learning rate must be a positive number"),
        ({"label_smoothing": 1.0}, r"label smoothing must be in \[0, 1\)"),
        ({"limit_train": 0}, "limit-train must be at least 1"),
        ({"optimizer": "lbfgs"}, "unknown optimizer 'lbfgs'"),
        ({"precision": "8"}, "unknown precision '8'"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
        ({"device": "cuda"}, "--device cuda: PyTorch sees no CUDA device"),
        ({"device": "cuda:1"}, "--device cuda:1: PyTorch sees no CUDA device"),
        ({"precision": "16"}, "--precision 16 needs a GPU"),
        ({"jit_compile": True}, "--jit-compile is a keras option"),
        ({"replicas": 2}, "--replicas is a keras option"),
        ({"sync_bn": True}, "--sync-bn synchronises batch-norm between processes; this run has one"),
        ({"target": "keras", "compile": True}, "--compile is a torch option"),
        ({"target": "keras", "precision": "16"}, "--precision 16 needs a GPU"),
        ({"target": "keras", "device": "mps"}, "--device mps is a PyTorch device"),
        ({"clip_grad_norm": 0.0}, "gradient clipping norm must be a positive number"),
        ({"data": "/no/such/dataset"}, "not found"),
        ({"spec": TINY_SPEC.replace("classes = 10", "classes = 5")}, "outputs 5 values per image but the data have 10"),
        ({"spec": TINY_SPEC.replace("3x32x32", "3x64x64")}, "takes 3x64x64 images but the data hold 3x32x32"),
        ({"out": None}, "no run directory"),
    ],
    ids=lambda v: v if isinstance(v, str) else "-".join(map(str, v.values())) if len(v) > 1 else next(iter(v)),
)
def test_bad_training_inputs(spec: Any, tmp_path: Path, change: dict[str, Any], message: str) -> None:
    kwargs: dict[str, Any] = {"target": "torch", "data": cifar_path(), "out": tmp_path / "run", **SMALL} | change
    model = inceptgen.load(kwargs.pop("spec")) if "spec" in kwargs else spec
    with pytest.raises(InceptgenError, match=message) as caught:
        train(model, **kwargs)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "run" / "model.pt").exists() and not (tmp_path / "run" / "run.json").exists()


def _constant_cifar(root: Path) -> Path:
    """A CIFAR folder whose training images are all one grey: nothing to normalise by."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = [f"c{i}".encode() for i in range(10)]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}))
    for name, n in (("data_batch_1", 20), ("test_batch", 10)):
        batch = {b"data": np.full((n, 3072), 128, np.uint8), b"labels": [i % 10 for i in range(n)]}
        (folder / name).write_bytes(pickle.dumps(batch))
    return folder


def test_training_images_of_zero_variance_are_refused(spec: Any, tmp_path: Path) -> None:
    data = _constant_cifar(tmp_path / "data")
    with pytest.raises(TrainingError, match="constant in channel 0"):
        train(spec, "torch", str(data), out=tmp_path / "run", epochs=1, batch_size=10)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lr": 0.2}, r"was trained with lr=0.05; resume with the same values \(got lr=0.2\)"),
        ({"optimizer": "adamw"}, "optimizer=sgd"),
        ({"target": "keras"}, "was trained with torch, not keras"),
        ({"epochs": 2}, "has already trained 2 epochs"),
        ({"limit_train": 100}, "limit_train=200"),
        ({"out": Path("/elsewhere")}, "must be the same directory"),
    ],
    ids=lambda v: v if isinstance(v, str) else next(iter(v)),
)
def test_resume_refuses_a_run_that_does_not_match(runs: dict, spec: Any, change: dict[str, Any], message: str) -> None:
    out, _ = runs["torch"]
    before = (out / "metrics.jsonl").read_text()
    with pytest.raises(TrainingError, match=message):
        train(spec, data=cifar_path(), resume=out, **({"target": "torch"} | SMALL | change))
    assert (out / "metrics.jsonl").read_text() == before


def test_resume_refuses_another_model(runs: dict) -> None:
    other = inceptgen.load(TINY_SPEC.replace("-> 8 }", "-> 6 }"))
    with pytest.raises(TrainingError, match="trained another model"):
        train(other, "torch", cifar_path(), resume=runs["torch"][0], **(SMALL | {"epochs": 3}))


def test_a_new_run_never_overwrites_an_old_one(runs: dict, spec: Any, tmp_path: Path) -> None:
    out, _ = runs["torch"]
    with pytest.raises(TrainingError, match="already holds a training run"):
        train(spec, "torch", cifar_path(), out=out, **SMALL)
    (tmp_path / "model.weights.h5").write_text("someone's weights")
    with pytest.raises(TrainingError, match="already holds a training run"):
        train(spec, "keras", cifar_path(), out=tmp_path, **SMALL)
    assert (tmp_path / "model.weights.h5").read_text() == "someone's weights"


def test_a_run_directory_in_use_is_refused(spec: Any, tmp_path: Path) -> None:
    from inceptgen.runtime.training.run_dir import locked

    with locked(tmp_path), pytest.raises(TrainingError, match="in use by another training process"):
        train(spec, "torch", cifar_path(), out=tmp_path, **SMALL)
    assert not (tmp_path / "run.json").exists()


def _copy_run(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest)
    (dest / ".lock").unlink(missing_ok=True)
    return dest


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda r: r["normalization"].update(std=[0.2, 0.0, 0.2]), "std must be positive"),
        (lambda r: r.update(settings=[1, 2]), "not an inceptgen run record"),
        (lambda r: r["normalization"].update(mean="grey"), "three numbers"),
    ],
    ids=["std 0", "settings a list", "mean a string"],
)
def test_a_hostile_run_json_is_refused(runs: dict, spec: Any, tmp_path: Path, edit: Any, message: str) -> None:
    out = _copy_run(runs["torch"][0], tmp_path / "run")
    record = json.loads((out / "run.json").read_text())
    edit(record)
    (out / "run.json").write_text(json.dumps(record))
    for action in (
        lambda: evaluate(spec, "torch", out / "model.pt", cifar_path()),
        lambda: train(spec, "torch", cifar_path(), resume=out, **(SMALL | {"epochs": 3})),
    ):
        with pytest.raises(TrainingError, match=message) as caught:
            action()
        assert "\n" not in str(caught.value)


def test_a_deeply_nested_run_json_is_refused(runs: dict, spec: Any, tmp_path: Path) -> None:
    out = _copy_run(runs["torch"][0], tmp_path / "run")
    (out / "run.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(TrainingError, match="cannot read .*run.json: RecursionError"):
        evaluate(spec, "torch", out / "model.pt", cifar_path())


def _edit_state(path: Path, edit: Any) -> None:
    import torch

    state = torch.load(path, weights_only=True)
    edit(state)
    torch.save(state, path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s["meta"].update(epochs_done=-1), "epochs done must be a count, got -1"),
        (lambda s: s["meta"].update(records=[]), "its metrics do not list epochs 1..2"),
        (
            lambda s: next(iter(s["optimizer"]["state"].values())).update(momentum_buffer=[0.0]),
            "optimizer slot 'momentum_buffer' is not a matching tensor",
        ),
        (lambda s: s.update(format=1), "not a resume state of this inceptgen"),
    ],
    ids=["negative epoch", "no records", "momentum a list", "old format"],
)
def test_a_hostile_resume_state_is_refused(runs: dict, spec: Any, tmp_path: Path, edit: Any, message: str) -> None:
    out = _copy_run(runs["torch"][0], tmp_path / "run")
    _edit_state(out / "resume.pt", edit)
    with pytest.raises(TrainingError, match=message) as caught:
        train(spec, "torch", cifar_path(), resume=out, **(SMALL | {"epochs": 3}))
    assert "\n" not in str(caught.value)


def test_resume_rewrites_truncated_metrics_and_a_stale_checkpoint(runs: dict, spec: Any, tmp_path: Path) -> None:
    """The resume state is the journal: metrics.jsonl and model.pt are rebuilt from it before training on."""
    out = _copy_run(runs["torch"][0], tmp_path / "run")
    lines = (out / "metrics.jsonl").read_text()
    (out / "metrics.jsonl").write_text(lines[: len(lines) // 2])  # cut mid-line
    (out / "model.pt").write_bytes(b"stale")
    (out / ".model.pt.abcd1234.tmp.pt").write_bytes(b"half a checkpoint")  # what a kill -9 leaves
    summary = train(spec, "torch", cifar_path(), resume=out, **(SMALL | {"epochs": 3}))
    assert [line["epoch"] for line in metrics(out)] == [1, 2, 3]
    assert metrics(out)[:2] == metrics(runs["torch"][0])
    assert debris(out) == []
    assert (
        evaluate(spec, "torch", out / "model.pt", cifar_path(), limit_test=100)["accuracy"] == summary["test_accuracy"]
    )


@pytest.mark.parametrize("target", TARGETS)
def test_bad_checkpoints(runs: dict, spec: Any, target: str, tmp_path: Path) -> None:
    suffix = ".pt" if target == "torch" else ".weights.h5"
    other = inceptgen.load(TINY_SPEC.replace("-> 8 }", "-> 6 }"))
    cases = [
        (spec, tmp_path / f"missing{suffix}", "does not exist"),
        (spec, _garbage(tmp_path / f"garbage{suffix}"), "cannot (read|load)"),
        (other, runs[target][0] / runs[target][1]["checkpoint"], "(does not fit|cannot load)"),
    ]
    if target == "keras":
        cases.append((spec, runs["torch"][0] / "model.pt", "end in .weights.h5"))
    for model, checkpoint, message in cases:
        with pytest.raises(TrainingError, match=message) as caught:
            evaluate(model, target, checkpoint, cifar_path())
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize("target", TARGETS)
def test_a_bit_flipped_checkpoint_is_refused(runs: dict, spec: Any, target: str, tmp_path: Path) -> None:
    out = _copy_run(runs[target][0], tmp_path / "run")
    checkpoint = out / CHECKPOINT[target]
    raw = bytearray(checkpoint.read_bytes())
    raw[len(raw) // 2] ^= 0x10
    checkpoint.write_bytes(bytes(raw))
    with pytest.raises(TrainingError, match="does not match its digest") as caught:
        evaluate(spec, target, checkpoint, cifar_path())
    assert "--resume" in (caught.value.hint or "")


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path: Path, spec: Any) -> None:
    """weights_only loading: a pickle that would create a file on load is rejected in one line, without
    PyTorch's advice to load it with weights_only=False."""
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[Any, ...]:
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"head.linear.weight": Payload()}))
    with pytest.raises(TrainingError, match="cannot read PyTorch checkpoint .*holds more than tensors") as caught:
        evaluate(spec, "torch", path, cifar_path())
    assert "\n" not in str(caught.value) and "weights_only=False" not in str(caught.value)
    assert not marker.exists()


# --------------------------------------------------------------------------
# CI's acceptance test: the real thing, on the whole shared subset

# Epochs, batch size and peak learning rate, the same for both targets (README, "Training").
ACCEPTANCE = {"epochs": 3, "batch_size": 64, "lr": 0.1}


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_cifar_mini_reaches_40_percent(target: str, tmp_path: Path, record_property) -> None:
    spec = inceptgen.load("@cifar_mini")
    started = time.perf_counter()
    summary = train(spec, target, cifar_path(), out=tmp_path, **ACCEPTANCE)
    minutes = (time.perf_counter() - started) / 60
    record_property(  # tests/conftest.py prints these in the terminal summary, so CI logs show them
        "figure",
        f"ACCEPTANCE {target}: test accuracy {summary['test_accuracy']:.1%} after {ACCEPTANCE['epochs']} epochs "
        f"(batch {ACCEPTANCE['batch_size']}, peak lr {ACCEPTANCE['lr']}), {minutes:.2f} min, "
        f"{summary['images_per_s']:.0f} img/s, {summary['params']['total']:,} parameters",
    )
    assert summary["data"]["train_images"] == 5000 and summary["data"]["test_images"] == 1000
    assert summary["test_accuracy"] >= 0.40


# --------------------------------------------------------------------------
# image folders: decoded per batch, resized and cropped to the model's input

FOLDER_SPEC = TINY_SPEC.replace("classes = 10", "classes = 3").replace("3x32x32", "3x24x24")


def _image_folder(root: Path, broken: bool = False) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", 12), ("test", 4)):
        for label in range(3):
            folder = root / split / f"class{label}"
            folder.mkdir(parents=True)
            for i in range(count):
                size = (int(rng.integers(30, 60)), int(rng.integers(30, 60)))
                pixels = rng.integers(0, 256, (*size, 3), dtype=np.uint8) // (label + 1)
                Image.fromarray(pixels).save(folder / f"{i}.{'jpg' if i % 2 else 'png'}")
    (root / "train/class1/broken.png").write_bytes(b"\x89PNG not an image")
    if broken:  # a header that reads, pixels that do not: found while training
        raw = (root / "train/class2/0.png").read_bytes()
        (root / "train/class2/0.png").write_bytes(raw[: len(raw) // 2])
    return root


@pytest.mark.parametrize("target", TARGETS)
def test_training_from_an_image_folder(tmp_path: Path, target: str) -> None:
    spec = inceptgen.load(FOLDER_SPEC)
    folder = _image_folder(tmp_path / "images")
    summary = train(spec, target, str(folder), out=tmp_path / "run", epochs=1, batch_size=12, lr=0.05, workers=2)
    assert summary["data"]["train_images"] == 36 and summary["data"]["skipped_images"] == 1
    assert summary["data"]["normalization"]["from"] == "ImageNet statistics"
    assert summary["data"]["image_size"] == [24, 24]
    result = evaluate(spec, target, tmp_path / "run" / CHECKPOINT[target], str(folder), workers=2)
    assert result["images"] == 12 and result["accuracy"] == summary["test_accuracy"]


@pytest.mark.parametrize("target", TARGETS)
def test_an_image_that_fails_to_decode_stops_training_with_its_name(tmp_path: Path, target: str) -> None:
    spec = inceptgen.load(FOLDER_SPEC)
    folder = _image_folder(tmp_path / "images", broken=True)
    with pytest.raises(datalib.DataError, match=r"class2/0.png: cannot read image") as caught:
        train(spec, target, str(folder), out=tmp_path / "run", epochs=1, batch_size=12, workers=2)
    assert "\n" not in str(caught.value) and "Traceback" not in str(caught.value)


def test_evaluate_labels_a_partial_test_folder_as_the_run_did(tmp_path: Path) -> None:
    """A test folder without class0 still gives class1 label 1: the classes come from run.json."""
    spec = inceptgen.load(FOLDER_SPEC)
    folder = _image_folder(tmp_path / "images")
    train(spec, "torch", str(folder), out=tmp_path / "run", epochs=1, batch_size=12, lr=0.05)
    partial = tmp_path / "partial"
    shutil.copytree(folder / "test", partial / "test")
    shutil.rmtree(partial / "test" / "class0")
    full = evaluate(spec, "torch", tmp_path / "run" / "model.pt", str(folder))
    part = evaluate(spec, "torch", tmp_path / "run" / "model.pt", str(partial))
    assert part["images"] == 8 and full["images"] == 12
    classes = tuple(json.loads((tmp_path / "run" / "run.json").read_text())["classes"])
    as_run = datalib.resolve_data(str(partial), splits=("test",), classes=classes)
    alone = datalib.resolve_data(str(partial), splits=("test",))
    assert sorted(set(as_run.test.labels.tolist())) == [1, 2]  # what evaluate scored against
    assert sorted(set(alone.test.labels.tolist())) == [0, 1]  # what the folder alone would say
