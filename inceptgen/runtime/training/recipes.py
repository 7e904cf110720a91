"""Named training recipes: the settings a published model was trained with, as one word.

A recipe gives defaults; settings given explicitly (on the command line, or as keyword
arguments) override it, so a short run of a recipe is `--recipe seed004 --epochs 3`. The run
records the recipe's name and every resulting setting in run.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inceptgen.runtime.training.errors import TrainingError

__all__ = ["RECIPES", "with_recipe"]

RECIPES: dict[str, Mapping[str, Any]] = {
    # Seed 004 (Inception v3 on CIFAR-10): batch 64, 300 epochs, SGD with Nesterov momentum 0.9;
    # its scheduler sets the learning rate to 0.01, 0.001 and 0.0001 from epochs 0, 100 and 200
    # (thirds of the run: `schedule step`), without warm-up; the L2(1e-4) penalty is in the spec,
    # not in the optimiser. Augmentation: random horizontal flips and shifts of up to 12.5 % (4 of
    # 32 pixels) filled with zeros after per-channel normalisation by the training set's mean and
    # std, which is this runtime's own augmentation (the seed's ImageDataGenerator also shifts by
    # fractions of a pixel, interpolating; this one shifts by whole pixels).
    "seed004": {
        "epochs": 300,
        "batch_size": 64,
        "lr": 0.01,
        "optimizer": "sgd",
        "momentum": 0.9,
        "weight_decay": 0.0,
        "warmup_fraction": 0.0,
        "schedule": "step",
        "label_smoothing": 0.0,
    },
}


def with_recipe(recipe: str | None, settings: Mapping[str, Any]) -> dict[str, Any]:
    """`settings` over the recipe's defaults (and the recipe's name, for run.json)."""
    if recipe is None:
        return dict(settings)
    if recipe not in RECIPES:
        raise TrainingError(f"unknown recipe {recipe!r}", hint=f"recipes: {', '.join(RECIPES)}")
    return {**RECIPES[recipe], **settings, "recipe": recipe}
