"""Which device a run uses, refused clearly where the hardware or the backend is missing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inceptgen.runtime.training.errors import TrainingError

__all__ = ["TorchPlacement", "torch_placement"]


@dataclass(frozen=True)
class TorchPlacement:
    """A PyTorch device and how to compute on it."""

    device: Any  # torch.device
    precision: str

    @property
    def kind(self) -> str:
        return str(self.device.type)

    @property
    def autocast_dtype(self) -> Any:
        import torch

        return {"bf16": torch.bfloat16, "16": torch.float16}.get(self.precision)

    @property
    def scales_loss(self) -> bool:
        """fp16 gradients underflow without a loss scale (bf16 has float32's range)."""
        return self.precision == "16"


def torch_placement(device: str, precision: str, local_rank: int | None = None) -> TorchPlacement:
    """Resolve `--device` and check `--precision` against it.

    `auto` is the first CUDA device, else MPS, else the CPU. In a distributed run on CUDA,
    each process takes the device of its local rank.
    """
    import torch

    name = _auto_device(torch) if device == "auto" else device
    if name.startswith("cuda"):
        resolved = _cuda(torch, name, local_rank)
    elif name == "mps":
        if not (torch.backends.mps.is_available() and torch.backends.mps.is_built()):
            raise TrainingError("--device mps: PyTorch sees no Apple GPU (torch.backends.mps.is_available() is False)")
        resolved = torch.device("mps")
    else:
        resolved = torch.device("cpu")
    _check_precision(torch, resolved, precision)
    return TorchPlacement(resolved, precision)


def _auto_device(torch: Any) -> str:
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _cuda(torch: Any, name: str, local_rank: int | None) -> Any:
    if not torch.cuda.is_available():
        raise TrainingError(
            f"--device {name}: PyTorch sees no CUDA device (torch.cuda.is_available() is False)",
            hint="use --device cpu, or install a CUDA build of PyTorch on a machine with an NVIDIA GPU",
        )
    count = torch.cuda.device_count()
    index = int(name.partition(":")[2] or 0) if local_rank is None else local_rank
    if index >= count:
        raise TrainingError(f"CUDA device {index} does not exist: PyTorch sees {count} (cuda:0..cuda:{count - 1})")
    return torch.device("cuda", index)


def _check_precision(torch: Any, device: Any, precision: str) -> None:
    if precision == "16" and device.type == "cpu":
        raise TrainingError(
            "--precision 16 needs a GPU: float16 autocast is not supported for training on the CPU",
            hint="use --precision bf16 on the CPU",
        )
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise TrainingError(f"--precision bf16: {torch.cuda.get_device_name(device)} has no bfloat16 support")
