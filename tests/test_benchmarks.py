"""Smoke test: every benchmark script runs end to end (one repeat; the slowest, a few rows) so none of them rots.

No timing is asserted here: speed goals live in the benchmarks and the README.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = sorted(p for p in (Path(__file__).parent.parent / "benchmarks").glob("*.py") if not p.name.startswith("_"))


@pytest.mark.slow
@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.stem)
def test_benchmark_runs(script: Path) -> None:
    env = {
        **os.environ,
        "INCEPTGEN_BENCH_REPEATS": "1",
        "INCEPTGEN_BENCH_SMOKE": "1",
        "PYTHONPATH": str(script.parent.parent),
    }
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    tables = [line for line in done.stdout.splitlines() if line.startswith("|")]
    assert len(tables) >= 4, done.stdout
