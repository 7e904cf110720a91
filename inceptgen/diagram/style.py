"""Colours shared by the Graphviz and Mermaid output."""

from __future__ import annotations

__all__ = ["FILL"]

#: fill colour per node family (layers) or kind (joins, ends, collapsed containers)
FILL = {
    "conv": "#dbeafe",
    "pool": "#fde68a",
    "linear": "#bbf7d0",
    "act": "#f3f4f6",
    "reg": "#f3f4f6",
    "other": "#ffffff",
    "concat": "#fef3c7",
    "add": "#fee2e2",
    "input": "#e5e7eb",
    "output": "#e5e7eb",
    "stage": "#e0e7ff",
    "block": "#ede9fe",
    "repeat": "#ede9fe",
    "copy": "#ede9fe",
    "aux": "#fce7f3",
    "container": "#f5f5f4",
}
