"""Shared pytest set-up: each worker's share of the cores, the longest tests first, and measured figures at the end."""

from __future__ import annotations

import os

# Each xdist worker gets its share of the cores for the math libraries, set before any test
# imports them (subprocesses inherit it): two workers each running torch or TensorFlow at two
# threads on two cores oversubscribe them, and a torch training test ran ten times slower.
# TensorFlow's inter-op pool is left alone: tf.distribute's replicas wait on each other there.
if os.environ.get("PYTEST_XDIST_WORKER"):
    _cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    _share = max(1, _cores // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        os.environ.setdefault(_name, str(_share))


def pytest_collection_modifyitems(items: list) -> None:
    """The tests marked `slow` first (a stable sort: otherwise in collection order).

    A worker that starts a one-minute test near the end of the run leaves the other idle for
    that long (16-20 s of 500 in the runs of 2026-12-03); begun first, the long tests end
    while many short ones are still queued, which `--dist worksteal` shares out.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_terminal_summary(terminalreporter) -> None:
    """Print every `record_property("figure", ...)` of passing tests (CI logs need the figures)."""
    figures = [
        value
        for report in terminalreporter.stats.get("passed", [])
        if report.when == "call"
        for name, value in report.user_properties
        if name == "figure"
    ]
    if figures:
        terminalreporter.section("measured figures")
        for figure in figures:
            terminalreporter.write_line(figure)
