"""One training run from start to summary, the same for every framework and process count.

The steps: validate the settings; place the run (device, precision, process group or
tf.distribute strategy); load and check the data; claim the run directory (rank 0, under
its lock: a new run, a restart of one that never finished an epoch, or a resume); build
the trainer; load the resume state and rewrite the files derived from it; train, committing
every epoch (`journal`); write the summary. In a distributed run every set-up step ends in
an agreement, so a user error on any rank stops all ranks with the same one-line message.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inceptgen.errors import InceptgenError
from inceptgen.output import atomic_write
from inceptgen.runtime.data import resolve_data
from inceptgen.runtime.progress import EpochProgress
from inceptgen.runtime.training import run_dir
from inceptgen.runtime.training.backend import Backend
from inceptgen.runtime.training.config import RESUME_KEYS, TrainConfig
from inceptgen.runtime.training.errors import TrainingError, TrainingInterruptedError
from inceptgen.runtime.training.journal import EpochRecorder, Journal, Trainer, write_derived
from inceptgen.runtime.training.prepare import Prepared, prepare
from inceptgen.runtime.training.recipes import with_recipe
from inceptgen.runtime.training.report import interrupted_message, start_line, summary
from inceptgen.runtime.training.run_dir import RunFiles
from inceptgen.targets import target as registered

__all__ = ["train"]


def _agreed(backend: Backend, step: Callable[[], Any]) -> Any:
    """Run a set-up step on every rank; if it failed anywhere, fail everywhere with one message."""
    error: InceptgenError | None = None
    result = None
    try:
        result = step()
    except InceptgenError as err:
        error = err
    message = backend.agree(error.message if error is not None else None)
    if message is None:
        return result
    failure = error if error is not None and error.message == message else TrainingError(message)
    failure.all_ranks = backend.ranks.distributed  # type: ignore[attr-defined] - the CLI prints it once, on rank 0
    raise failure


# --------------------------------------------------------------------------
# the run directory


def _run_record(spec: Any, config: TrainConfig, prepared: Prepared, source: str) -> dict[str, Any]:
    return {
        "format": 2,
        "model": spec.model.name,
        "spec": spec.source_name,
        "source_sha256": hashlib.sha256(source.encode()).hexdigest(),
        "settings": config.to_dict(),
        **prepared.record(),
    }


def _write_new(files: RunFiles, record: dict[str, Any], source: str, target: str) -> None:
    atomic_write(files.source(target), source)
    atomic_write(files.run_json, json.dumps(record, indent=2) + "\n")


def _check_resumable(files: RunFiles, saved: dict[str, Any], current: dict[str, Any]) -> None:
    """Refuse to continue a run with another model, target, data or settings."""
    was, now = saved["settings"], current["settings"]
    if was.get("target") != now["target"]:
        raise TrainingError(f"{files.root} was trained with {was.get('target')}, not {now['target']}")
    if saved.get("source_sha256") != current["source_sha256"]:
        raise TrainingError(f"{files.root} trained another model than {current['spec']} generates now")
    differ = [k for k in RESUME_KEYS if was.get(k) != now[k]]
    if differ:
        used = ", ".join(f"{k}={was.get(k)}" for k in differ)
        given = ", ".join(f"{k}={now[k]}" for k in differ)
        raise TrainingError(f"{files.root} was trained with {used}; resume with the same values (got {given})")
    same_data = (
        saved.get("classes") == current["classes"]
        and saved.get("train_images") == current["train_images"]
        and np.allclose(saved["normalization"]["mean"], current["normalization"]["mean"])
        and np.allclose(saved["normalization"]["std"], current["normalization"]["std"])
    )
    if not same_data:
        raise TrainingError(
            f"{files.root} was trained on other data (classes, image count or channel statistics differ)"
        )


def _claim(files: RunFiles, resume: bool, record: dict[str, Any], source: str, target: str) -> str:
    """Decide how the run starts ("new", "restart" or "resume") and write what a start writes."""
    if not resume:
        restart = run_dir.check_new_run(files)
        if restart:
            run_dir.clear_unfinished(files)
        _write_new(files, record, source, target)
        return "restart" if restart else "new"
    if not files.run_json.is_file():
        raise TrainingError(f"nothing to resume in {files.root}: no run.json")
    saved = run_dir.read_run_json(files.run_json)
    if not files.resume_state(target).is_file() and saved["settings"].get("target") in (target, None):
        run_dir.clear_unfinished(files)  # no epoch finished: nothing to keep, start over with these settings
        _write_new(files, record, source, target)
        return "restart"
    _check_resumable(files, saved, record)
    return "resume"


# --------------------------------------------------------------------------
# the run


@dataclass
class _Session:
    prepared: Prepared
    trainer: Trainer
    journal: Journal
    mode: str


def _open(
    spec: Any,
    data: str,
    download: bool,
    config: TrainConfig,
    files: RunFiles,
    resume: bool,
    backend: Backend,
    stack: contextlib.ExitStack,
) -> _Session:
    ranks = backend.ranks
    if download and ranks.distributed:
        raise TrainingError(
            "--download in a distributed run would fetch the archive once per process",
            hint="fetch it first with one process (or give --data a folder), then start the distributed run",
        )
    dataset = resolve_data(data, download=download)
    prepared = prepare(spec, dataset, config, ranks.world, ranks.rank)
    mode = "new"
    if backend.main:
        stack.enter_context(run_dir.locked(files.root))
        run_dir.remove_debris(files)
        source = spec.source(config.target)
        mode = _claim(files, resume, _run_record(spec, config, prepared, source), source, config.target)
    mode = backend.broadcast(mode)
    trainer = backend.make_trainer(spec, config, prepared)
    journal = Journal()
    if mode == "resume":
        journal = Journal.from_meta(trainer.load_state(files.resume_state(config.target)), files.root)
        if journal.epochs_done >= config.epochs:
            raise TrainingError(
                f"{files.root} has already trained {journal.epochs_done} epochs",
                hint=f"pass --epochs above {journal.epochs_done} to train further",
            )
    return _Session(prepared, trainer, journal, mode)


def train(
    spec: Any,
    target: str,
    data: str,
    out: Path | None = None,
    *,
    resume: Path | None = None,
    download: bool = False,
    progress: EpochProgress | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Train `spec`'s generated model, score it on the test split each epoch, and save the run.

    Args:
        spec: the loaded spec (`inceptgen.load(...)`); its classes and input must fit the data.
        target: "torch" or "keras".
        data: a dataset as `inceptgen.runtime.data.resolve_data` reads it.
        out: the run directory to create (a run that never finished an epoch is started over).
        resume: a run directory to continue from its last finished epoch.
        download: fetch CIFAR-10/100 when `data` is the word and it is not cached.
        progress: the progress display (a live bar on terminals, one line per epoch always).
        **settings: any field of :class:`inceptgen.runtime.training.config.TrainConfig`
            (epochs, batch_size, lr, optimizer, device, precision, workers, ...); `recipe` names a
            recipe whose settings the others override (`inceptgen.runtime.training.recipes`).

    Returns:
        The summary, also written to RUN_DIR/summary.json (by rank 0 alone when distributed).

    Raises:
        TrainingError: bad settings, data that do not fit the model, an unusable run directory.
        TrainingInterruptedError: Ctrl-C; the last finished epoch is saved and can be resumed.
    """
    started = time.perf_counter()
    config = TrainConfig.make(target, **with_recipe(settings.pop("recipe", None), settings))
    files = RunFiles(run_dir.run_directory(out, resume))
    backend = registered(target).trainer_module().backend(config)
    try:
        with contextlib.ExitStack() as stack:
            session = _agreed(
                backend, lambda: _open(spec, data, download, config, files, resume is not None, backend, stack)
            )
            return _run(spec, config, files, session, backend, progress, started)
    finally:
        backend.leave()


def _lost_peer(exc: RuntimeError) -> bool:
    """Whether a collective failed because another process of the run went away."""
    text = str(exc)
    return type(exc).__name__ == "DistBackendError" or any(word in text for word in ("gloo", "NCCL", "Connection"))


def _lost_peer_message(files: RunFiles, epochs_done: int, exc: RuntimeError) -> str:
    from inceptgen.runtime.training.errors import first_line

    saved = f"epoch {epochs_done} is saved, continue with --resume {files.root}" if epochs_done else "no epoch finished"
    reason = re.sub(r"^\[[^\]]*\]\s*", "", first_line(exc))  # gloo starts with its source file
    return f"another process of the run stopped ({reason[:120]}); {saved}"


def _quiet_progress() -> EpochProgress:
    from rich.console import Console

    return EpochProgress(Console(file=open(os.devnull, "w"), highlight=False), live=False)  # noqa: SIM115


def _run(
    spec: Any,
    config: TrainConfig,
    files: RunFiles,
    session: _Session,
    backend: Backend,
    progress: EpochProgress | None,
    started: float,
) -> dict[str, Any]:
    prepared, trainer, journal = session.prepared, session.trainer, session.journal
    progress = (progress or EpochProgress()) if backend.main else _quiet_progress()
    if backend.main and journal.epochs_done:
        write_derived(files, config.target, trainer, journal)  # whatever a kill left half-done
    recorder = EpochRecorder(
        files, config, trainer, prepared.test_batches(), progress, journal, prepared.steps, backend.main
    )
    if config.tensorboard and backend.main:
        from inceptgen.runtime.training.tensorboard import open_event_log

        recorder.events = open_event_log(files.tensorboard, config.target)
    if session.mode == "restart":
        progress.message(f"{files.root} holds a run that never finished an epoch: starting it over")
    progress.message(start_line(spec, config, prepared, backend.where, journal.epochs_done, files))
    try:
        trainer.fit(journal.epochs_done, recorder, progress)
    except KeyboardInterrupt:
        raise TrainingInterruptedError(interrupted_message(files, config.target, recorder.epochs_done)) from None
    except RuntimeError as exc:
        if backend.ranks.distributed and _lost_peer(exc):
            raise TrainingError(_lost_peer_message(files, recorder.epochs_done, exc)) from None
        raise
    finally:
        progress.close()
        if recorder.events is not None:
            recorder.events.close()
    if not backend.main:
        return {"rank": backend.ranks.rank}
    return _finish(spec, config, files, session, backend, recorder, progress, started)


def _finish(
    spec: Any,
    config: TrainConfig,
    files: RunFiles,
    session: _Session,
    backend: Backend,
    recorder: EpochRecorder,
    progress: EpochProgress,
    started: float,
) -> dict[str, Any]:
    """Write summary.json and say how the run ended (rank 0)."""
    run = {
        "start_epoch": session.journal.epochs_done,
        "wall_seconds": time.perf_counter() - started,
        "placement": {"where": backend.where, "world_size": backend.ranks.world},
        "framework_params": session.trainer.framework_params,
        "checkpoint": files.checkpoint(config.target).name,
        "best_checkpoint": files.best(config.target).name,
    }
    result = summary(spec, config, session.prepared, recorder.journal.records, run)
    atomic_write(files.summary, json.dumps(result, indent=2) + "\n")
    progress.message(
        f"test accuracy {result['test_accuracy']:.1%} (top-5 {result['test_top5']:.1%}) after "
        f"{config.epochs} epochs ({config.target}, {result['wall_seconds']:.1f} s, "
        f"{result['images_per_s']:,.0f} img/s); saved {files.checkpoint(config.target)}"
    )
    return result
