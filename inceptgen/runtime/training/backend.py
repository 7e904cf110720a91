"""What a framework's training loop offers a run: where it computes, and how its processes agree."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from inceptgen.runtime.training.config import TrainConfig
from inceptgen.runtime.training.distributed import Ranks
from inceptgen.runtime.training.journal import Trainer
from inceptgen.runtime.training.prepare import Prepared

__all__ = ["Backend", "aux_weights"]


def aux_weights(spec: Any) -> list[float]:
    """The loss weight of each auxiliary head, in the order the models return them."""
    return [float(spec.checked.node(aux.name).values["weight"]) for aux in spec.model.auxes]


@dataclass
class Backend:
    """Where a run computes, how to build its trainer, and how its processes agree (one process: trivially).

    Each target's loop module (`Target.trainer`) makes one with `backend(config)`.
    """

    ranks: Ranks
    main: bool
    where: str
    make_trainer: Callable[[Any, TrainConfig, Prepared], Trainer]
    agree: Callable[[str | None], str | None]
    broadcast: Callable[[Any], Any]
    leave: Callable[[], None]
