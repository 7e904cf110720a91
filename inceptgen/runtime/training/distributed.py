"""Distributed PyTorch: the process group torchrun asks for, and the few collectives the loop needs.

torchrun (or `inceptgen train --nproc-per-node N`) starts one process per device and sets
WORLD_SIZE, RANK and LOCAL_RANK; each process joins a gloo (CPU) or NCCL (CUDA) group.
Gradients are averaged by DistributedDataParallel; this module only agrees on set-up
errors, sums epoch figures and hands rank 0's resume state to the others.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

from inceptgen.runtime.training.errors import TrainingError

__all__ = ["Ranks", "agree", "all_sum", "barrier", "broadcast", "join", "leave", "ranks_from_env"]

#: How long a collective waits for a rank that has gone quiet before the group fails.
TIMEOUT = datetime.timedelta(minutes=10)


@dataclass(frozen=True)
class Ranks:
    """This process's place in the run: `world` processes, this one is `rank` (`local_rank` on its machine)."""

    world: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0 alone writes files and shows progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def ranks_from_env(environ: dict[str, str] | None = None) -> Ranks:
    """The ranks torchrun set (WORLD_SIZE, RANK, LOCAL_RANK); a single process without them."""
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" not in env:
        return Ranks()
    try:
        ranks = Ranks(int(env["WORLD_SIZE"]), int(env.get("RANK", "0")), int(env.get("LOCAL_RANK", "0")))
    except ValueError:
        raise TrainingError("WORLD_SIZE, RANK and LOCAL_RANK must be integers (torchrun sets them)") from None
    if not (ranks.world >= 1 and 0 <= ranks.rank < ranks.world and ranks.local_rank >= 0):
        raise TrainingError(f"inconsistent ranks: RANK {ranks.rank} of WORLD_SIZE {ranks.world}")
    return ranks


def join(ranks: Ranks, device: Any) -> None:
    """Join the process group: NCCL between CUDA devices, gloo otherwise."""
    import torch
    import torch.distributed as dist

    if not ranks.distributed or dist.is_initialized():
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)  # NCCL's object collectives use the current device
    backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl" and not dist.is_nccl_available():
        raise TrainingError("this PyTorch build has no NCCL: distributed CUDA training needs it")
    dist.init_process_group(backend=backend, timeout=TIMEOUT)


def leave() -> None:
    """Leave the process group (at the end, and on errors: a clean exit tells torchrun this rank is done)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def agree(ranks: Ranks, error: str | None) -> str | None:
    """Every rank's set-up outcome, gathered: the first error of any rank (so all ranks stop together)."""
    if not ranks.distributed:
        return error
    import torch.distributed as dist

    errors: list[Any] = [None] * ranks.world
    dist.all_gather_object(errors, error)
    failed = [(r, e) for r, e in enumerate(errors) if e]
    if not failed:
        return None
    rank, message = failed[0]
    same = all(e == message for _, e in failed) and len(failed) == ranks.world
    return message if same else f"rank {rank}: {message}"


def all_sum(ranks: Ranks, values: list[float], device: Any) -> list[float]:
    """Sum figures (loss sums, counts) over all ranks."""
    if not ranks.distributed:
        return values
    import torch
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def broadcast(ranks: Ranks, value: Any) -> Any:
    """Rank 0's `value` on every rank."""
    if not ranks.distributed:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(ranks: Ranks) -> None:
    """Wait until every rank is here (after rank 0 has written an epoch)."""
    if ranks.distributed:
        import torch.distributed as dist

        dist.barrier()
