"""Shared pytest hooks: measured figures reported by tests appear at the end of the run."""

from __future__ import annotations


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
