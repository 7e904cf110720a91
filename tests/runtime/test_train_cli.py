"""`inceptgen train` and `inceptgen evaluate` on the command line: the options of issue 15 reach the runtime,
options set to nothing are left to the runtime's defaults, and bad ones exit 2 in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from inceptgen import cli
from inceptgen.runtime import train as trainmodule
from tests.runtime.trainkit import cifar_path, one_thread, spec_file  # noqa: F401

runner = CliRunner()


def invoke(*args: object) -> Any:
    return runner.invoke(cli.build_app(), [str(a) for a in args])


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[tuple, dict]]:
    calls: list[tuple[tuple, dict]] = []
    monkeypatch.setattr(trainmodule, "train", lambda *a, **k: calls.append((a, k)) or {})
    monkeypatch.setattr(trainmodule, "evaluate", lambda *a, **k: calls.append((a, k)) or {"accuracy": 0.5})
    return calls


NEW_OPTIONS = [
    (["--optimizer", "adamw"], {"optimizer": "adamw"}),
    (["--momentum", "0.8"], {"momentum": 0.8}),
    (["--weight-decay", "0.05"], {"weight_decay": 0.05}),
    (["--clip-grad-norm", "2.5"], {"clip_grad_norm": 2.5}),
    (["--device", "cuda:1"], {"device": "cuda:1"}),
    (["--precision", "bf16"], {"precision": "bf16"}),
    (["--workers", "4"], {"workers": 4}),
    (["--channels-last", "--compile", "--sync-bn"], {"channels_last": True, "compile": True, "sync_bn": True}),
    (["--jit-compile", "--replicas", "2"], {"jit_compile": True, "replicas": 2}),
    (["--tensorboard"], {"tensorboard": True}),
]


@pytest.mark.parametrize(("flags", "expected"), NEW_OPTIONS, ids=lambda v: v[0] if isinstance(v, list) else None)
def test_train_options_reach_the_runtime(recorded: list, tmp_path: Path, flags: list[str], expected: dict) -> None:
    base = ["train", spec_file(tmp_path), "--target", "torch", "--data", tmp_path, "--out", tmp_path / "run"]
    result = invoke(*base, *flags)
    assert result.exit_code == 0, result.output
    (_, kwargs), *_ = recorded
    new = {k: v for k, v in kwargs.items() if k not in {"data", "out", "resume", "download"} | _OLD}
    assert new == expected


_OLD = {"epochs", "batch_size", "lr", "limit_train", "limit_test", "seed", "label_smoothing"}


def test_evaluate_options_reach_the_runtime(recorded: list, tmp_path: Path) -> None:
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"x")
    args = ["evaluate", spec_file(tmp_path), "--target", "torch", "--checkpoint", checkpoint, "--data", tmp_path]
    assert invoke(*args, "--device", "cpu", "--precision", "bf16", "--workers", "2").exit_code == 0
    assert invoke(*args).exit_code == 0
    assert recorded[0][1] == {"device": "cpu", "precision": "bf16", "workers": 2}
    assert recorded[1][1] == {}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--precision", "16"], "error: --precision 16 needs a GPU"),
        (["--device", "cuda:3"], "error: --device cuda:3: PyTorch sees no CUDA device"),
        (["--device", "tpu"], "error: unknown device 'tpu'"),
        (["--jit-compile"], "error: --jit-compile is a keras option"),
        (["--workers", "-1"], "Invalid value for '--workers'"),
        (["--precision", "8"], "Invalid value for '--precision'"),
        (["--target", "keras", "--nproc-per-node", "2"], "is a PyTorch option"),
    ],
    ids=lambda v: v[0] if isinstance(v, list) else None,
)
def test_bad_training_options_exit_2_in_one_line(tmp_path: Path, flags: list[str], message: str) -> None:
    target = [] if "--target" in flags else ["--target", "torch"]
    args = ["train", spec_file(tmp_path), *target, "--data", cifar_path(), "--out", tmp_path / "run", *flags]
    result = invoke(*args, "--limit-train", 100, "--epochs", 1)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "run").exists()
