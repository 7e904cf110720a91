"""The PyTorch training loop: DistributedDataParallel, autocast and GradScaler, channels-last, torch.compile."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual name

from inceptgen.output import atomic_path
from inceptgen.runtime.progress import EpochProgress
from inceptgen.runtime.training import distributed
from inceptgen.runtime.training.backend import Backend, aux_weights
from inceptgen.runtime.training.batches import TrainBatches
from inceptgen.runtime.training.config import TrainConfig
from inceptgen.runtime.training.devices import TorchPlacement, torch_placement
from inceptgen.runtime.training.distributed import Ranks
from inceptgen.runtime.training.errors import TrainingError, first_line
from inceptgen.runtime.training.journal import EpochRecorder, Journal, Trainer
from inceptgen.runtime.training.optim_torch import build_optimizer, build_schedule
from inceptgen.runtime.training.pipeline_torch import BatchFailure, train_loader
from inceptgen.runtime.training.prepare import Prepared

__all__ = ["TorchTrainer", "backend", "epoch_seed", "predictor", "torch_load"]

#: Running figures reach the progress bar every this many steps (each read waits for the device).
PROGRESS_EVERY = 10


def backend(config: TrainConfig) -> Backend:
    """A PyTorch run: its device, and the process group torchrun asked for (joined here)."""
    ranks = distributed.ranks_from_env()
    local = ranks.local_rank if ranks.distributed else None
    try:
        placement = torch_placement(config.device, config.precision, local)
        _check_sync_bn(config, ranks, placement)
    except TrainingError as err:
        err.all_ranks = ranks.distributed  # type: ignore[attr-defined] - the same on every rank: rank 0 says it
        raise
    distributed.join(ranks, placement.device)
    where = str(placement.device)
    if ranks.distributed:
        where += f", {ranks.world} processes (DDP, {'nccl' if placement.kind == 'cuda' else 'gloo'})"

    def make(spec: Any, cfg: TrainConfig, prepared: Prepared) -> Trainer:
        return TorchTrainer(spec, cfg, prepared.train_batches(), aux_weights(spec), placement, ranks)

    return Backend(
        ranks,
        ranks.main,
        where,
        make,
        lambda error: distributed.agree(ranks, error),
        lambda value: distributed.broadcast(ranks, value),
        distributed.leave,
    )


def _check_sync_bn(config: TrainConfig, ranks: Ranks, placement: TorchPlacement) -> None:
    if not config.sync_bn:
        return
    if not ranks.distributed:
        raise TrainingError(
            "--sync-bn synchronises batch-norm between processes; this run has one",
            hint="run it under torchrun or with --nproc-per-node N",
        )
    if placement.kind != "cuda":
        raise TrainingError(f"--sync-bn needs CUDA devices: PyTorch's SyncBatchNorm does not run on {placement.kind}")


def predictor(spec: Any, checkpoint: Path, config: TrainConfig) -> Any:
    """Logits of a saved state dict, on `config`'s device and precision (for `inceptgen evaluate`)."""
    placement = torch_placement(config.device, config.precision)
    state = torch_load(checkpoint)
    if not isinstance(state, dict):
        raise TrainingError(f"{checkpoint} is not a PyTorch state dict")
    model = spec.to_torch()
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise TrainingError(f"{checkpoint} does not fit {spec.model.name}: {first_line(exc)}") from None
    model = model.to(placement.device).eval()
    dtype = placement.autocast_dtype

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad(), torch.autocast(placement.kind, dtype=dtype, enabled=dtype is not None):
            return model(torch.from_numpy(x).to(placement.device)).float().cpu().numpy()

    return predict


def epoch_seed(seed: int, epoch: int, ranks: Ranks) -> int:
    """The seed of an epoch's dropout masks: a resumed run draws the masks an uninterrupted one would."""
    parts = [seed, epoch] + ([ranks.rank] if ranks.distributed else [])
    return int(np.random.SeedSequence(parts).generate_state(1)[0])


class TorchTrainer:
    """One process of a PyTorch run (DDP when torchrun started several)."""

    def __init__(
        self,
        spec: Any,
        config: TrainConfig,
        batches: TrainBatches,
        aux_weights: list[float],
        placement: TorchPlacement,
        ranks: Ranks | None = None,
    ) -> None:
        torch.manual_seed(config.seed)
        self.config, self.batches, self.aux_weights, self.placement, self.ranks = (
            config,
            batches,
            aux_weights,
            placement,
            ranks or Ranks(),
        )
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.module = self._build(spec)
        self.framework_params = sum(p.numel() for p in self.module.parameters())
        self.network = self._wrap(self.module)
        self.forward = torch.compile(self.network) if config.compile else self.network
        fused = placement.kind == "cuda" and config.optimizer == "adamw"
        self.optimizer = build_optimizer(self.module, config, fused=fused)
        self.schedule = build_schedule(self.optimizer, config, config.epochs * len(batches))
        self.scaler = torch.amp.GradScaler(placement.kind, enabled=placement.scales_loss)

    def _build(self, spec: Any) -> Any:
        model = spec.to_torch()
        if self.config.sync_bn and self.ranks.distributed:
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return model.to(device=self.placement.device, memory_format=self.memory_format)

    def _wrap(self, model: Any) -> Any:
        if not self.ranks.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.placement.device.index] if self.placement.kind == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids)

    def _autocast(self) -> Any:
        dtype = self.placement.autocast_dtype
        return nullcontext() if dtype is None else torch.autocast(self.placement.kind, dtype=dtype)

    # -- training

    def fit(self, start_epoch: int, recorder: EpochRecorder, progress: EpochProgress) -> None:
        pin = self.placement.kind == "cuda"
        loader = iter(train_loader(self.batches, self.config.epochs, start_epoch, self.config.workers, pin))
        for epoch in range(start_epoch, self.config.epochs):
            torch.manual_seed(epoch_seed(self.config.seed, epoch, self.ranks))
            progress.start(epoch + 1, self.config.epochs, len(self.batches))
            started = _now(self.placement)
            loss, accuracy, images = self._epoch(loader, progress)
            recorder.end_epoch(epoch, loss, accuracy, images, _now(self.placement) - started)
            distributed.barrier(self.ranks)  # rank 0 has written the epoch

    def _epoch(self, loader: Any, progress: EpochProgress) -> tuple[float, float, int]:
        self.network.train()
        device = self.placement.device
        sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss * n, correct, n: read rarely
        for index in range(len(self.batches)):
            item = next(loader)
            if isinstance(item, BatchFailure):
                raise item.error()
            x = item[0].to(device, non_blocking=True, memory_format=self.memory_format)
            y = item[1].to(device, non_blocking=True)
            loss, correct = self._step(x, y)
            sums += torch.stack([loss * len(y), correct, torch.tensor(float(len(y)), device=device)]).double()
            if (index + 1) % PROGRESS_EVERY == 0 or index + 1 == len(self.batches):
                loss_sum, hits, n = sums.tolist()
                progress.update(index + 1, self.batches.images_in(index + 1), loss_sum / n, hits / n)
        loss_sum, hits, n = distributed.all_sum(self.ranks, sums.tolist(), device)
        return loss_sum / n, hits / n, int(n)

    def _step(self, x: Any, y: Any) -> tuple[Any, Any]:
        smoothing = self.config.label_smoothing
        with self._autocast():
            outputs = self.forward(x)
            main, auxes = (outputs[0], outputs[1:]) if isinstance(outputs, tuple) else (outputs, ())
            loss = F.cross_entropy(main, y, label_smoothing=smoothing)
            for weight, logits in zip(self.aux_weights, auxes, strict=True):
                loss = loss + weight * F.cross_entropy(logits, y, label_smoothing=smoothing)
            if hasattr(self.module, "penalty"):  # the spec's L2 penalties, as Keras adds its regularizers
                loss = loss + self.module.penalty()
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.config.clip_grad_norm is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.config.clip_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.schedule.step()
        return loss.detach().float(), (main.detach().argmax(1) == y).sum().float()

    # -- inference and state

    def predict(self, x_nchw: np.ndarray) -> np.ndarray:
        """Logits of the main output (batch-norm running statistics; no auxiliary heads)."""
        was_training = self.module.training
        self.module.eval()
        x = torch.from_numpy(x_nchw).to(self.placement.device, memory_format=self.memory_format)
        with torch.no_grad(), self._autocast():
            logits = self.module(x).float().cpu().numpy()
        self.module.train(was_training)
        return logits

    def _weights(self) -> dict[str, Any]:
        return {k: v.detach().cpu() for k, v in self.module.state_dict().items()}

    def save_checkpoint(self, path: Path) -> None:
        with atomic_path(path, suffix=".pt") as tmp:
            torch.save(self._weights(), tmp)

    def save_state(self, path: Path, meta: dict[str, Any]) -> None:
        state = {
            "format": 2,
            "meta": meta,
            "model": self._weights(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
        }
        with atomic_path(path, suffix=".pt") as tmp:
            torch.save(state, tmp)

    def load_state(self, path: Path) -> dict[str, Any]:
        state = distributed.broadcast(self.ranks, torch_load(path) if self.ranks.main else None)
        if not (isinstance(state, dict) and state.get("format") == 2):
            raise TrainingError(f"cannot resume from {path}: not a resume state of this inceptgen")
        journal = Journal.from_meta(state.get("meta"), path)
        try:
            self.module.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.schedule.load_state_dict(state["schedule"])
            if self.scaler.is_enabled() and state["scaler"]:
                self.scaler.load_state_dict(state["scaler"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise TrainingError(f"{path} does not fit this model: {first_line(exc)}") from None
        _check_optimizer_state(self.optimizer, path)
        return journal.to_meta()


def _check_optimizer_state(optimizer: Any, path: Path) -> None:
    """Every slot of the optimiser must be a tensor shaped like its parameter (a hand-edited state is not)."""
    for param, slots in optimizer.state.items():
        for name, value in slots.items():
            shaped = isinstance(value, torch.Tensor) and (name == "step" or value.shape == param.shape)
            if not shaped:
                raise TrainingError(f"{path} does not fit this model: optimizer slot {name!r} is not a matching tensor")


def _now(placement: TorchPlacement) -> float:
    import time

    if placement.kind == "cuda":
        torch.cuda.synchronize(placement.device)
    return time.perf_counter()


def torch_load(path: Path) -> Any:
    """`torch.load` of data only (`weights_only`: a checkpoint never runs code), with a one-line error."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's bad checkpoint
        raise TrainingError(f"cannot read PyTorch checkpoint {path}: {_load_reason(exc)}") from None


def _load_reason(exc: BaseException) -> str:
    """Why torch.load refused, without its multi-line advice (which suggests the unsafe weights_only=False)."""
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in text:
        detail = text.split(marker, 1)[1].strip().splitlines()[0]
        return f"it holds more than tensors ({' '.join(detail.split())[:160]}); inceptgen loads only weights"
    return first_line(exc)
