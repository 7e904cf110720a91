"""kill -9 at every point of an epoch: the run resumes, and its metrics and checkpoints agree (issue 18).

`fault_run.py` hangs epoch 2 of a 3-epoch run at a chosen point (in training, or half-way
through writing the resume state, the checkpoint or the metrics); the test kills it with
SIGKILL there, checks what is on disk, resumes, and checks that the finished run's
metrics, checkpoint, digests and resume state all describe the same epochs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import inceptgen
from inceptgen.runtime.train import evaluate, train
from inceptgen.runtime.training.run_dir import verify_digest
from tests.runtime.trainkit import SMALL, TINY_SPEC, child_env, cifar_path, debris, metrics, one_thread  # noqa: F401

FAULT_RUN = Path(__file__).with_name("fault_run.py")

# point -> (epochs committed when killed, epochs metrics.jsonl lists when killed)
POINTS = {"epoch": (1, 1), "state": (1, 1), "checkpoint": (2, 1), "metrics": (2, 1)}


def kill_at(point: str, out: Path) -> None:
    marker = out.parent / "marker"
    process = subprocess.Popen(
        [sys.executable, str(FAULT_RUN), point, str(out), str(marker)],
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert process.poll() is None, process.stderr.read().decode()[-2000:] if process.stderr else ""
            assert time.monotonic() < deadline, "the run never reached the fault point"
            time.sleep(0.1)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL


def committed_epochs(out: Path) -> int:
    import torch

    return torch.load(out / "resume.pt", weights_only=True)["meta"]["epochs_done"]


@pytest.mark.parametrize("point", list(POINTS))
def test_kill_9_leaves_a_run_that_resumes_with_agreeing_metrics_and_checkpoint(point: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    kill_at(point, out)
    committed, listed = POINTS[point]
    # What the kill left: an intact journal, whole metric lines, an old or new checkpoint that loads.
    assert committed_epochs(out) == committed
    assert [m["epoch"] for m in metrics(out)] == list(range(1, listed + 1))
    spec = inceptgen.load(TINY_SPEC)
    evaluate(spec, "torch", out / "best.pt", cifar_path(), limit_test=20)
    if point in ("state", "checkpoint", "metrics"):
        assert debris(out), "the kill should have left a temporary file"

    summary = train(spec, "torch", cifar_path(), resume=out, **(SMALL | {"epochs": 3}))

    assert summary["resumed_after_epoch"] == committed
    lines = metrics(out)
    assert [m["epoch"] for m in lines] == [1, 2, 3]
    assert committed_epochs(out) == 3
    assert debris(out) == []
    for name in ("model.pt", "best.pt"):
        assert verify_digest(out / name)
    scored = evaluate(spec, "torch", out / "model.pt", cifar_path(), limit_test=SMALL["limit_test"])
    assert scored["accuracy"] == lines[-1]["test_acc"] == summary["test_accuracy"]
    best = max(lines, key=lambda m: m["test_acc"])
    assert evaluate(spec, "torch", out / "best.pt", cifar_path(), limit_test=100)["accuracy"] == best["test_acc"]
    assert json.loads((out / "summary.json").read_text())["best_epoch"] == best["epoch"]
