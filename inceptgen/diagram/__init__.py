"""`inceptgen diagram`: draw a spec's network as SVG, PNG, DOT or Mermaid.

Only the checker's output is read, and nothing here imports torch, tensorflow or
keras. SVG and PNG need Graphviz's `dot` program; DOT and Mermaid text need none.

Example:
    >>> import inceptgen
    >>> from inceptgen.diagram import render_diagram
    >>> text = render_diagram(inceptgen.load("@googlenet"), "mermaid", depth=1)
    >>> text.splitlines()[1]
    'flowchart TB'
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from inceptgen.diagram.graph import Cluster, Diagram, Edge, Node, build_diagram
from inceptgen.errors import InceptgenError

__all__ = [
    "FORMATS",
    "Cluster",
    "Diagram",
    "Edge",
    "Node",
    "build_diagram",
    "format_for",
    "render_diagram",
    "write_diagram",
]

#: format -> file suffixes that select it
FORMATS: dict[str, tuple[str, ...]] = {
    "svg": (".svg",),
    "png": (".png",),
    "dot": (".dot", ".gv"),
    "mermaid": (".mmd", ".mermaid"),
}


def format_for(path: str) -> str:
    """The format a file name asks for by its suffix.

    Raises:
        InceptgenError: the suffix names no format (the message lists them).
    """
    suffix = Path(path).suffix.lower()
    for fmt, suffixes in FORMATS.items():
        if suffix in suffixes:
            return fmt
    known = ", ".join(s for suffixes in FORMATS.values() for s in suffixes)
    raise InceptgenError(f"cannot tell the diagram format of {path!r}: end it with {known}, or pass --format")


def render_diagram(spec: Any, fmt: str, depth: int | None = None, params: bool = False) -> bytes | str:
    """The diagram of `spec` in `fmt`: text for `dot` and `mermaid`, bytes for `svg` and `png`.

    Raises:
        InceptgenError: an unknown format, or SVG/PNG without Graphviz's `dot`.
    """
    from inceptgen.diagram import dot, mermaid

    diagram = build_diagram(spec, depth=depth, params=params)
    if fmt == "dot":
        return dot.to_dot(diagram).source
    if fmt == "mermaid":
        return mermaid.to_mermaid(diagram)
    if fmt in ("svg", "png"):
        return dot.render(diagram, fmt)
    raise InceptgenError(f"unknown diagram format {fmt!r}: one of {', '.join(FORMATS)}")


def write_diagram(
    spec: Any,
    output: str,
    fmt: str | None = None,
    depth: int | None = None,
    params: bool = False,
    force: bool = False,
) -> str:
    """Render the diagram of `spec` into `output` (atomically), or to stdout for `-`; return the format.

    Raises:
        InceptgenError: `output` exists and not `force`, PNG asked for on stdout, no
            format can be told, or the diagram cannot be drawn or written.
    """
    fmt = fmt or ("svg" if output == "-" else format_for(output))
    if output == "-" and fmt == "png":
        raise InceptgenError("PNG is binary: give a file name with -o, or choose svg, dot or mermaid for stdout")
    if output != "-" and Path(output).exists() and not force:
        raise InceptgenError(f"refusing to overwrite {output!r}: pass --force to replace it")
    data = render_diagram(spec, fmt, depth=depth, params=params)
    if output == "-":
        sys.stdout.write(data.decode("utf-8") if isinstance(data, bytes) else data)
        sys.stdout.flush()
        return fmt
    from inceptgen.output import atomic_write

    atomic_write(output, data)
    return fmt
