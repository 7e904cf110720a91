"""`inceptgen train --nproc-per-node N`: N processes on this machine, through PyTorch's elastic launcher.

The same as `torchrun --standalone --nproc-per-node N -m inceptgen train ...` (torch's own
`elastic_launch`, which starts, watches and stops the workers), with inceptgen's exit
codes: when every worker stopped on the same user error (which rank 0 has printed), the
launcher exits 2 without torch's failure report; when a worker died, it says which and
from what, stops the others, and tells how to resume.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

from inceptgen.runtime.training.run_dir import RunFiles

__all__ = ["launch", "worker_arguments"]

EXIT_USAGE = 2


def worker_arguments(argv: Sequence[str]) -> list[str]:
    """The command line of a worker: this one without `--nproc-per-node`."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc-per-node":
            skip = True
        elif not arg.startswith("--nproc-per-node="):
            out.append(arg)
    return out


def launch(argv: Sequence[str], nproc: int, run_dir: Path | None) -> int:
    """Run `inceptgen <argv>` in `nproc` processes; the exit status of the whole run."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    _quiet_elastic_logs()

    # As torchrun does: split the machine's threads between the processes, unless told otherwise.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=str(uuid.uuid4()),
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
        monitor_interval=0.5,
    )
    try:
        elastic_launch(config, entrypoint=sys.executable)("-m", "inceptgen", *worker_arguments(argv))
    except ChildFailedError as failed:
        return _report(failed, run_dir)
    return 0


def _quiet_elastic_logs() -> None:
    """The agent's own log lines repeat what rank 0 printed (and `_report` says); keep them for --debug."""
    if os.environ.get("INCEPTGEN_DEBUG"):
        return
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("torch.distributed.elastic") or name.startswith("torch.distributed.launcher"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def _report(failed: object, run_dir: Path | None) -> int:
    codes = {rank: failure.exitcode for rank, failure in failed.failures.items()}  # type: ignore[attr-defined]
    rank, first = failed.get_first_failure()  # type: ignore[attr-defined] - the cause; the agent stopped the rest
    code = first.exitcode
    if code == EXIT_USAGE or all(c == EXIT_USAGE for c in codes.values()):
        return EXIT_USAGE  # a user error, which rank 0 has printed (the other ranks wait for it to exit)
    how = f"was killed by {_signal_name(-code)}" if code < 0 else f"exited with status {code}"
    sys.stderr.write(f"error: rank {rank} {how}; the other ranks were stopped{_resumable(run_dir)}\n")
    return 1


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _resumable(run_dir: Path | None) -> str:
    if run_dir is None:
        return ""
    files = RunFiles(run_dir)
    if files.resume_state("torch").is_file():
        return f"; continue from the last finished epoch with --resume {run_dir}"
    return f"; no epoch had finished, {run_dir} starts over when run again"
