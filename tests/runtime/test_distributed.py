"""Distributed training on the CPU: torchrun with gloo, inceptgen's own launcher, Keras MirroredStrategy.

Each run is a subprocess (a process group, or TensorFlow's logical devices, can be set up
only once per process) of the tiny spec on a small subset, one thread per process.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from inceptgen.runtime import data as datalib
from inceptgen.runtime.training import BatchPlan, TrainBatches, TrainingError
from tests.runtime.trainkit import child_env, cifar_path, debris, inceptgen, metrics, run, spec_file, train_args

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "inceptgen"]
BIGGER = {"limit-train": 1000, "batch-size": 20, "epochs": 3, "lr": 0.1}


def _split_batches(world: int, rank: int) -> TrainBatches:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 3, 8, 8), dtype=np.uint8)
    y = np.arange(60, dtype=np.int64) % 10
    mean, std = datalib.channel_stats(x)
    return TrainBatches(datalib.Split(y, images=x), BatchPlan(60, 12, 5, world, rank), mean, std, (8, 8))


@pytest.mark.parametrize("world", [2, 3, 4])
def test_ranks_see_disjoint_shards_whose_union_is_the_batch(world: int) -> None:
    whole = _split_batches(1, 0)
    shards = [_split_batches(world, rank) for rank in range(world)]
    for epoch in range(2):
        seen: list[int] = []
        for step in range(len(whole)):
            parts = [s.indices(epoch, step)[s.plan.share()] for s in shards]
            assert all(len(p) == 12 // world for p in parts)
            np.testing.assert_array_equal(np.concatenate(parts), whole.indices(epoch, step))
            images = np.concatenate([s.batch(epoch, step)[0] for s in shards])
            np.testing.assert_array_equal(images, whole.batch(epoch, step)[0])  # same pixels, same augmentation
            seen += np.concatenate(parts).tolist()
        assert len(seen) == len(set(seen)) == len(whole) * 12  # disjoint, and the epoch's images


def test_a_batch_that_does_not_split_over_the_processes_is_refused() -> None:
    with pytest.raises(TrainingError, match="a batch of 12 images does not split over 5 processes"):
        BatchPlan(60, 12, 0, world=5)
    with pytest.raises(TrainingError, match="3 training images cannot feed 4 processes"):
        BatchPlan(3, 12, 0, world=4)


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: the same run in one process."""
    root = tmp_path_factory.mktemp("single")
    done = inceptgen(*train_args(spec_file(root), "torch", **BIGGER, out=root / "run"))
    assert done.returncode == 0, done.stderr
    return root / "run"


@pytest.fixture(scope="module")
def torchrun_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    root = tmp_path_factory.mktemp("torchrun")
    done = run([*TORCHRUN, *train_args(spec_file(root), "torch", **BIGGER, out=root / "run")])
    return root, done


def test_torchrun_with_gloo_trains_once_into_one_run_directory(torchrun_run: tuple, single: Path) -> None:
    root, done = torchrun_run
    assert done.returncode == 0, done.stderr[-3000:]
    out = root / "run"
    assert done.stdout.count("test accuracy") == 1 and "2 processes (DDP, gloo)" in done.stdout  # rank 0 alone
    assert [m["epoch"] for m in metrics(out)] == [1, 2, 3]
    names = {p.name for p in out.iterdir()} - {".lock"}
    assert names == {n for n in names if not n.startswith(".")}  # no debris
    assert {"model.pt", "best.pt", "resume.pt", "run.json", "metrics.jsonl", "summary.json"} <= names
    summary = json.loads((out / "summary.json").read_text())
    assert summary["placement"]["world_size"] == 2
    reference = metrics(single)[-1]["test_acc"]
    assert abs(metrics(out)[-1]["test_acc"] - reference) <= 0.06  # per-rank batch-norm: the same band
    assert metrics(out)[-1]["test_acc"] >= 0.15  # and well above chance (10 %)


def test_a_torchrun_run_resumes_under_torchrun(torchrun_run: tuple) -> None:
    root, first = torchrun_run
    assert first.returncode == 0, first.stderr[-3000:]
    args = train_args(root / "tiny.incept", "torch", **(BIGGER | {"epochs": 4}), resume=root / "run")
    done = run([*TORCHRUN, *args])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resuming" in done.stdout and done.stdout.count("epoch 4/4") == 1
    assert [m["epoch"] for m in metrics(root / "run")] == [1, 2, 3, 4]
    assert debris(root / "run") == []


def test_the_launcher_refuses_more_processes_than_images_in_one_line(tmp_path: Path) -> None:
    """`--nproc-per-node` larger than the data: exit 2, one message (from rank 0 alone), nothing written."""
    data = tmp_path / "one" / "cifar-10-batches-py"
    data.mkdir(parents=True)
    (data / "batches.meta").write_bytes(pickle.dumps({b"label_names": [f"c{i}".encode() for i in range(10)]}))
    rows = np.random.default_rng(0).integers(0, 256, (1, 3072), dtype=np.uint8)
    (data / "data_batch_1").write_bytes(pickle.dumps({b"data": rows, b"labels": [3]}))
    (data / "test_batch").write_bytes(pickle.dumps({b"data": rows, b"labels": [3]}))
    args = ["train", str(spec_file(tmp_path)), "--target", "torch", "--data", str(data), "--out", str(tmp_path / "r")]
    done = inceptgen(*args, "--nproc-per-node", "2")
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert errors == ["error: 1 training images cannot feed 2 processes"], done.stderr
    assert not (tmp_path / "r").exists()


def test_sync_bn_on_the_cpu_is_refused_once(tmp_path: Path) -> None:
    args = train_args(spec_file(tmp_path), "torch", out=tmp_path / "run", sync_bn=True)
    done = inceptgen(*args, "--nproc-per-node", "2")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --sync-bn needs CUDA devices: PyTorch's SyncBatchNorm does not run on cpu"


def _rank_pid(rank: int, marker: str) -> int | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ and marker.encode() in cmdline:
            return int(entry.name)
    return None


@pytest.mark.slow
def test_a_killed_rank_stops_the_run_with_a_clear_message_and_it_resumes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = train_args(spec_file(tmp_path), "torch", **(BIGGER | {"epochs": 4}), out=out)
    launcher = subprocess.Popen(
        [sys.executable, "-m", "inceptgen", *args, "--nproc-per-node", "2"],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not (out / "metrics.jsonl").is_file() and launcher.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        victim = _rank_pid(1, str(out))
        assert victim is not None, "rank 1 not found"
        os.kill(victim, signal.SIGKILL)
        stdout, stderr = launcher.communicate(timeout=300)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 1, stderr
    assert "error: rank 1 was killed by SIGKILL; the other ranks were stopped" in stderr
    assert f"continue from the last finished epoch with --resume {out}" in stderr
    assert "Traceback" not in stderr
    assert _rank_pid(0, str(out)) is None  # no rank left behind
    done_epochs = len(metrics(out))
    assert done_epochs >= 1
    resumed = inceptgen(*train_args(tmp_path / "tiny.incept", "torch", **(BIGGER | {"epochs": 4}), resume=out))
    assert resumed.returncode == 0, resumed.stderr
    assert [m["epoch"] for m in metrics(out)] == [1, 2, 3, 4]
    assert debris(out) == []


TF_DATA_NOTICE = re.compile(r"dataset\.cc:\d+\] Input of GeneratorDatasetOp::Dataset will not be optimized")
ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"


def test_keras_mirrored_strategy_over_two_logical_cpus_trains(tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = inceptgen(*train_args(spec_file(tmp_path), "keras", replicas=2, device="cpu", out=out))
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["placement"]["where"] == "MirroredStrategy over 2 logical CPU devices"
    assert [m["epoch"] for m in metrics(out)] == [1, 2]
    assert all(np.isfinite(m["loss"]) for m in metrics(out))
    # No TensorFlow start-up chatter. One runtime notice of tf.data's C++ log is let through: under
    # MirroredStrategy it says, on some runs only, that a generator dataset cannot be graph-optimised
    # (tensorflow/tensorflow#61816); it is written before absl's logging is set up, so
    # TF_CPP_MIN_LOG_LEVEL does not reach it, and absl then heads it with ABSL_PREAMBLE.
    lines = [line for line in done.stderr.splitlines() if line.strip() and not TF_DATA_NOTICE.search(line)]
    if TF_DATA_NOTICE.search(done.stderr):
        lines = [line for line in lines if line != ABSL_PREAMBLE]
    assert lines == [], done.stderr


def test_runtime_commands_print_no_tensorflow_chatter(tmp_path: Path) -> None:
    bad = tmp_path / "model.weights.h5"
    bad.write_bytes(b"not weights")
    args = ["evaluate", str(spec_file(tmp_path)), "--target", "keras", "--checkpoint", str(bad), "--data"]
    done = inceptgen(*args, cifar_path())
    assert done.returncode == 2
    assert done.stderr.startswith("error: cannot load") and len(done.stderr.strip().splitlines()) == 1, done.stderr
