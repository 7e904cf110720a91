"""Shared pieces of the training, distributed and fault tests: a tiny spec, the data, subprocess runs.

Every torch computation here runs on one thread (`one_thread`, and OMP_NUM_THREADS=1 for
subprocesses): CI runs two xdist workers on two cores, and more threads than cores makes
PyTorch's time explode under load without speeding anything up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TARGETS = ("torch", "keras")

# Two stages with a branch join, batch-norm and an auxiliary head: every part of the loss.
# No dropout, so that a resumed Keras run can match an uninterrupted one exactly too.
TINY_SPEC = """
model tiny(classes = 10, input = 3x32x32)
defaults { conv: nobias, bn, relu }
stage stem { conv 3x3 -> 8 stride 2; maxpool 2x2 }
stage body { concat { branch { conv 1x1 -> 8 } branch { conv 3x3 -> 8 } } }
head { global_avgpool; linear -> classes }
aux side after stem weight 0.3 { global_avgpool; linear -> classes }
"""
SMALL: dict[str, Any] = {"epochs": 2, "batch_size": 50, "limit_train": 200, "limit_test": 100, "lr": 0.05}


def cifar_path() -> str:
    path = Path(os.environ.get("INCEPTGEN_CIFAR") or REPO_ROOT.parent / "shared/datasets/cifar10-mini")
    assert path.exists(), f"the shared CIFAR-10 subset is missing at {path} (set INCEPTGEN_CIFAR)"
    return str(path)


def metrics(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def debris(run_dir: Path) -> list[str]:
    """Temporary files an interrupted write would leave."""
    return sorted(p.name for p in run_dir.iterdir() if ".tmp" in p.name)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """PyTorch on one thread for the module's tests (restored afterwards for other modules)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def spec_file(tmp: Path, text: str = TINY_SPEC) -> Path:
    path = tmp / "tiny.incept"
    path.write_text(text)
    return path


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT), "INCEPTGEN_CIFAR": cifar_path()}
    env.pop("INCEPTGEN_DEBUG", None)
    return env | extra


def run(args: list[str], timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a command (argv) with one thread per process, capturing its output."""
    return subprocess.run(args, capture_output=True, text=True, env=child_env(**env), timeout=timeout, check=False)


def inceptgen(*args: str | Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "inceptgen", *map(str, args)], timeout=timeout, **env)


def train_args(spec: Path, target: str, **options: Any) -> list[str]:
    """`train SPEC --target T --data CIFAR` and the SMALL settings as options (overridable)."""
    settings = {"limit-train": 200, "limit-test": 100, "epochs": 2, "batch-size": 50, "lr": 0.05} | options
    out = ["train", str(spec), "--target", target, "--data", cifar_path()]
    for name, value in settings.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            out.append(flag)
        elif value is not None and value is not False:
            out += [flag, str(value)]
    return out
