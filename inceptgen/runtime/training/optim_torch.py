"""PyTorch optimisers and schedule that step exactly as their Keras counterparts do.

* SGD: `keras.optimizers.SGD(momentum, nesterov=True, weight_decay)` differs from
  `torch.optim.SGD` in two ways: torch's `weight_decay` is an L2 term added to the gradient
  (so amplified by the momentum), and its momentum buffer sums raw gradients scaled by the
  current learning rate afterwards, where Keras sums `lr * grad` (they part whenever the
  schedule moves). :class:`KerasSGD` is a `torch.optim.Optimizer` with Keras' three lines,
  so GradScaler, LambdaLR and `state_dict` work with it as with torch's own.
* AdamW: `torch.optim.AdamW` itself; the Keras side adapts (see `optim_keras`).

Both decay kernels and dense weights only: parameters of one dimension (biases,
batch-norm) form a group without weight decay, as Keras is told to exclude them.
"""

from __future__ import annotations

from typing import Any

import torch

from inceptgen.runtime.training.config import TrainConfig
from inceptgen.runtime.training.schedule import schedule_factor

__all__ = ["ADAM_BETAS", "ADAM_EPS", "KerasSGD", "build_optimizer", "build_schedule"]

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


class KerasSGD(torch.optim.Optimizer):
    """Nesterov SGD with decoupled weight decay, step for step as `keras.optimizers.SGD` computes it.

    Per parameter `w` with gradient `g` and momentum `m`, at learning rate `lr`::

        w -= w * weight_decay * lr
        m = momentum * m - lr * g
        w += momentum * m - lr * g
    """

    def __init__(self, params: Any, lr: float, momentum: float, weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # noqa: D102 - torch.optim.Optimizer.step
        loss = None if closure is None else closure()
        for group in self.param_groups:
            lr, momentum, decay = group["lr"], group["momentum"], group["weight_decay"]
            for w in group["params"]:
                if w.grad is None:  # Keras skips variables without a gradient altogether
                    continue
                state = self.state[w]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(w, memory_format=torch.preserve_format)
                m = state["momentum_buffer"]
                if decay:
                    w.mul_(1 - decay * lr)
                m.mul_(momentum).sub_(w.grad, alpha=lr)
                w.add_(m, alpha=momentum).sub_(w.grad, alpha=lr)
        return loss


def _groups(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
    ]


def build_optimizer(model: Any, config: TrainConfig, fused: bool = False) -> torch.optim.Optimizer:
    """The optimiser `config` names, over `model`'s trainable parameters."""
    groups = _groups(model, config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr, betas=ADAM_BETAS, eps=ADAM_EPS, fused=fused or None)
    return KerasSGD(groups, lr=config.lr, momentum=config.momentum)


def build_schedule(optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int) -> Any:
    """The configured schedule per step, as `LambdaLR` (its state is saved with the resume state)."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: schedule_factor(step, total_steps, config.warmup_fraction, config.schedule)
    )
