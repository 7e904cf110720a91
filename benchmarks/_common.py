"""Shared timing helpers: warm-up, then the median of repeats (the machines are noisy)."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

__all__ = ["median_time", "repeats", "print_table", "smoke"]


def repeats(default: int) -> int:
    """Repeat count: `INCEPTGEN_BENCH_REPEATS` overrides (the CI smoke test sets 1)."""
    return max(1, int(os.environ.get("INCEPTGEN_BENCH_REPEATS", default)))


def smoke() -> bool:
    """True in the CI smoke test (`INCEPTGEN_BENCH_SMOKE=1`): a script runs a few rows of each table."""
    return os.environ.get("INCEPTGEN_BENCH_SMOKE", "") == "1"


def median_time(fn: Callable[[], object], n: int, warmup: int = 1) -> float:
    """Median wall time of `fn()` in seconds over `n` runs after `warmup` runs."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def print_table(title: str, header: list[str], rows: list[list[object]]) -> None:
    """A plain Markdown table, so the output can be pasted into the README."""
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
