"""Named training recipes: seed 004's, as a preset whose explicit options win, run in both frameworks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import inceptgen
from inceptgen.runtime.training.errors import TrainingError
from inceptgen.runtime.training.recipes import RECIPES, with_recipe
from inceptgen.runtime.training.schedule import learning_rate_at

CIFAR = os.environ.get("INCEPTGEN_CIFAR", str(Path(__file__).resolve().parents[3] / "shared/datasets/cifar10-mini"))


def test_explicit_settings_override_the_recipe() -> None:
    settings = with_recipe("seed004", {"epochs": 3, "seed": 1})
    assert settings == {**RECIPES["seed004"], "epochs": 3, "seed": 1, "recipe": "seed004"}
    assert with_recipe(None, {"epochs": 3}) == {"epochs": 3}
    with pytest.raises(TrainingError, match="unknown recipe 'seed005'"):
        with_recipe("seed005", {})


def test_step_schedule_divides_by_ten_at_thirds() -> None:
    # Seed 004: 0.01, 0.001 and 0.0001 from epochs 0, 100 and 200 of 300.
    rates = {round(learning_rate_at(step, 300, 0.01, 0.0, "step"), 10) for step in range(300)}
    assert rates == {0.01, 0.001, 0.0001}
    assert [learning_rate_at(s, 300, 0.01, 0.0, "step") for s in (99, 100, 199, 200)] == pytest.approx(
        [0.01, 0.001, 0.001, 0.0001]
    )


@pytest.mark.parametrize("target", ["torch", "keras"])
def test_a_short_run_of_seed_004s_recipe(target: str, tmp_path: Path) -> None:
    from inceptgen.runtime.train import train

    # The recipe is settings, whatever the model: cifar_mini keeps this a few seconds (seed 004's
    # own Inception v3 took 50 s to trace and checkpoint in Keras, for the same assertions).
    spec = inceptgen.load("@cifar_mini")
    train(spec, target, CIFAR, tmp_path / "run", recipe="seed004", epochs=3, limit_train=64, limit_test=20)
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    settings = record.get("settings", record)
    assert settings["recipe"] == "seed004" and settings["batch_size"] == 64 and settings["epochs"] == 3
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [round(line["lr"], 10) for line in lines] == [0.01, 0.001, 0.0001]


def test_the_cli_passes_only_what_was_given_with_a_recipe(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from inceptgen import cli
    from inceptgen.runtime import train as train_module

    seen = {}
    monkeypatch.setattr(train_module, "train", lambda spec, target, data, out, **options: seen.update(options))
    args = ["train", "@cifar_mini", "-t", "torch", "--data", CIFAR, "--out", str(tmp_path / "r"), "--recipe", "seed004"]
    result = CliRunner().invoke(cli.build_app(), [*args, "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert seen["recipe"] == "seed004" and seen["epochs"] == 2
    assert "batch_size" not in seen and "lr" not in seen  # the recipe's, not the option's default
