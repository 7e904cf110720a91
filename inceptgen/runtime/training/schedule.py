"""The learning-rate schedules both frameworks follow, per step: linear warm-up, then cosine decay to zero
(`cosine`), or steps down by 10 at a third and two thirds of the run (`step`, seed 004's recipe)."""

from __future__ import annotations

import math

__all__ = ["SCHEDULES", "WARMUP_FRACTION", "learning_rate_at", "schedule_factor"]

SCHEDULES = ("cosine", "step")

WARMUP_FRACTION = 0.15


def learning_rate_at(
    step: int, total_steps: int, peak: float, warmup_fraction: float = WARMUP_FRACTION, schedule: str = "cosine"
) -> float:
    """The learning rate of optimiser step `step` (0-based) in a run of `total_steps`.

    Rises linearly to `peak` over the first `warmup_fraction` of the steps, then follows
    half a cosine down towards zero at `total_steps` (`cosine`), or stays at `peak` and is
    divided by 10 at a third and again at two thirds of the steps (`step`).
    """
    return peak * schedule_factor(step, total_steps, warmup_fraction, schedule)


def schedule_factor(
    step: int, total_steps: int, warmup_fraction: float = WARMUP_FRACTION, schedule: str = "cosine"
) -> float:
    """`learning_rate_at` divided by the peak (what `torch.optim.lr_scheduler.LambdaLR` multiplies by)."""
    warmup = (
        round(warmup_fraction * total_steps) if schedule == "step" else max(1, round(warmup_fraction * total_steps))
    )
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "step":
        return 0.1 ** sum(step >= total_steps * k // 3 for k in (1, 2))
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))
