"""The learning-rate schedule both frameworks follow: linear warm-up, then cosine decay to zero, per step."""

from __future__ import annotations

import math

__all__ = ["WARMUP_FRACTION", "learning_rate_at", "schedule_factor"]

WARMUP_FRACTION = 0.15


def learning_rate_at(step: int, total_steps: int, peak: float, warmup_fraction: float = WARMUP_FRACTION) -> float:
    """The learning rate of optimiser step `step` (0-based) in a run of `total_steps`.

    Rises linearly to `peak` over the first `warmup_fraction` of the steps, then
    follows half a cosine down towards zero at `total_steps`.
    """
    return peak * schedule_factor(step, total_steps, warmup_fraction)


def schedule_factor(step: int, total_steps: int, warmup_fraction: float = WARMUP_FRACTION) -> float:
    """`learning_rate_at` divided by the peak (what `torch.optim.lr_scheduler.LambdaLR` multiplies by)."""
    warmup = max(1, round(warmup_fraction * total_steps))
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return 0.5 * (1.0 + math.cos(math.pi * progress))
