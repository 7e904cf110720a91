"""The run directory: its files, its lock, and what a new, restarted or resumed run may find there.

    RUN_DIR/run.json              settings, data, normalisation (written once, when the run starts)
    RUN_DIR/metrics.jsonl         one line per finished epoch
    RUN_DIR/model.pt|.weights.h5  the last epoch's weights, with a .sha256 beside it
    RUN_DIR/best.pt|.weights.h5   the best test accuracy's weights, with a .sha256
    RUN_DIR/resume.pt|.npz        everything to continue from the last finished epoch
    RUN_DIR/summary.json          written when the run ends
    RUN_DIR/model_TARGET.py       the generated source that was trained
    RUN_DIR/tensorboard/          event files (--tensorboard)

Every file is written atomically. A process killed while writing can leave a temporary
`.NAME.*.tmp*` file behind; the next run in the directory removes them under its lock.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inceptgen.runtime.training.errors import TrainingError
from inceptgen.targets import TARGET_NAMES, target

__all__ = ["RunFiles", "locked", "read_run_json", "remove_debris"]

MAX_RUN_JSON_BYTES = 4 * 1024 * 1024
_LOCK_NAME = ".lock"


@dataclass(frozen=True)
class RunFiles:
    """The files of one run directory."""

    root: Path

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    def checkpoint(self, target_name: str) -> Path:
        return self.root / target(target_name).checkpoint

    def best(self, target_name: str) -> Path:
        return self.root / target(target_name).checkpoint.replace("model", "best", 1)

    def resume_state(self, target_name: str) -> Path:
        return self.root / target(target_name).resume_state

    def source(self, target_name: str) -> Path:
        return self.root / f"model_{target_name}.py"

    def per_target(self, target_name: str) -> list[Path]:
        weights = [self.checkpoint(target_name), self.best(target_name)]
        digests = [p.with_name(p.name + ".sha256") for p in weights]
        return [*weights, *digests, self.resume_state(target_name), self.source(target_name)]

    def all_files(self) -> list[Path]:
        """Every file a run of any target writes."""
        return [self.run_json, self.metrics, self.summary, *(p for t in TARGET_NAMES for p in self.per_target(t))]

    def has_finished_epoch(self) -> bool:
        return any(self.resume_state(t).is_file() for t in TARGET_NAMES)


def run_directory(out: Path | None, resume: Path | None) -> Path:
    """The directory of a run from `--out` and `--resume`."""
    if resume is None and out is None:
        raise TrainingError("no run directory: pass --out RUN_DIR (or --resume RUN_DIR)")
    if resume is not None and out is not None and Path(out).resolve() != Path(resume).resolve():
        raise TrainingError(f"--resume continues in {resume}; --out {out} must be the same directory or left out")
    return Path(resume if resume is not None else out)  # type: ignore[arg-type]


def check_new_run(files: RunFiles) -> bool:
    """Whether `--out` may start in `files.root`; True when it restarts a run that never finished an epoch.

    Raises:
        TrainingError: the path is not a directory, it holds a run with a finished epoch, or
            it holds a file of a run's name that no run.json accounts for.
    """
    if files.root.exists() and not files.root.is_dir():
        raise TrainingError(f"{files.root} exists and is not a directory")
    if files.has_finished_epoch():
        raise TrainingError(
            f"{files.root} already holds a training run", hint="continue it with --resume, or choose another --out"
        )
    if files.run_json.is_file():
        return True
    if any(path.exists() for path in files.all_files()):
        raise TrainingError(
            f"{files.root} already holds a training run", hint="continue it with --resume, or choose another --out"
        )
    return False


def clear_unfinished(files: RunFiles) -> None:
    """Remove what a run that never finished an epoch left, before it starts over."""
    for path in files.all_files():
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """Hold RUN_DIR's lock: a second run in the same directory is refused, not interleaved."""
    root.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks, one run at a time is the user's care
        yield
        return
    with open(root / _LOCK_NAME, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise TrainingError(f"{root} is in use by another training process") from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def remove_debris(files: RunFiles) -> list[str]:
    """Delete the temporary files an interrupted write left (only ever called under the lock)."""
    names = {p.name for p in files.all_files()}
    removed = []
    for path in files.root.iterdir():
        name = path.name
        if name.startswith(".") and ".tmp" in name and name[1:].split(".tmp", 1)[0].rsplit(".", 1)[0] in names:
            path.unlink(missing_ok=True)
            removed.append(name)
    return removed


def read_run_json(path: Path) -> dict[str, Any]:
    """run.json, checked for the fields training and evaluation read.

    Raises:
        TrainingError: unreadable, too large, too deeply nested, or missing or mistyped fields.
    """
    try:
        if path.stat().st_size > MAX_RUN_JSON_BYTES:
            raise TrainingError(f"{path} is larger than any run record ({MAX_RUN_JSON_BYTES:,} bytes)")
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise TrainingError(f"cannot read {path}: {type(exc).__name__}: {str(exc)[:200]}") from None
    if not (isinstance(record, dict) and isinstance(record.get("settings"), dict)):
        raise TrainingError(f"{path} is not an inceptgen run record (no settings)")
    _check_normalization(path, record.get("normalization"))
    if not (isinstance(record.get("classes"), list) and all(isinstance(c, str) for c in record["classes"])):
        raise TrainingError(f"{path}: 'classes' must be a list of names")
    return record


def _check_normalization(path: Path, norm: Any) -> None:
    ok = isinstance(norm, dict) and all(
        isinstance(norm.get(k), list)
        and len(norm[k]) == 3
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in norm[k])
        for k in ("mean", "std")
    )
    if not ok:
        raise TrainingError(f"{path}: 'normalization' must hold three numbers each for mean and std")
    if not all(v > 0 and v == v and v != float("inf") for v in norm["std"]):
        raise TrainingError(f"{path}: normalization std must be positive, got {norm['std']}")


def write_digest(path: Path) -> None:
    """Write `path.sha256` (`sha256sum` format) beside a checkpoint, atomically."""
    from inceptgen.output import atomic_write

    atomic_write(path.with_name(path.name + ".sha256"), f"{_sha256(path)}  {path.name}\n")


def verify_digest(path: Path) -> bool:
    """Check a checkpoint against its `.sha256`; True when checked, False when there is none.

    Raises:
        TrainingError: the digest does not match (a corrupt file, or one replaced by hand).
    """
    digest_file = path.with_name(path.name + ".sha256")
    if not digest_file.is_file():
        return False
    expected = digest_file.read_text(encoding="utf-8", errors="replace").split()[:1]
    if expected != [_sha256(path)]:
        raise TrainingError(
            f"{path} does not match its digest {digest_file.name}: the file is corrupt or was changed",
            hint="a run killed while saving is repaired by `inceptgen train --resume RUN_DIR`",
        )
    return True


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
