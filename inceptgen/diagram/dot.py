"""Graphviz output: DOT text through the `graphviz` package, SVG and PNG through `dot`.

DOT text needs no program; SVG and PNG run Graphviz's `dot`, as keras' `plot_model`
and torchview do.
"""

from __future__ import annotations

from typing import Any

from inceptgen.diagram.graph import Cluster, Diagram, Node
from inceptgen.diagram.style import FILL
from inceptgen.errors import InceptgenError

__all__ = ["to_dot", "render", "DOT_MISSING"]

DOT_MISSING = (
    "{fmt} output needs Graphviz's `dot` program, which is not on PATH: install Graphviz "
    "(Debian/Ubuntu: apt-get install -y graphviz; macOS: brew install graphviz; conda: conda install graphviz), "
    "or write .dot or .mmd, which need no program"
)

_FONT = "Helvetica"

#: the most boxes handed to `dot`: its layout grows faster than the graph (1,000 boxes took 0.8 s
#: on the 2-core machine, 5,000 took 13 s and 1.3 GB); the library's largest drawing has 428
MAX_LAYOUT_NODES = 2_500

#: style per cluster kind: stages filled and bold, blocks dashed, aux heads filled pink
_CLUSTER = {
    "stage": {"style": "rounded,filled", "fillcolor": "#f5f7ff", "color": "#6366f1", "penwidth": "1.6"},
    "aux": {"style": "rounded,filled", "fillcolor": "#fdf2f8", "color": "#db2777", "penwidth": "1.4"},
    "block": {"style": "rounded,dashed", "color": "#7c3aed"},
    "repeat": {"style": "rounded,dotted", "color": "#7c3aed", "penwidth": "1.4"},
    "copy": {"style": "rounded,dotted", "color": "#a78bfa"},
    "container": {"style": "rounded,dashed", "color": "#78716c"},
}

_SHAPE = {"concat": "box", "add": "ellipse", "input": "parallelogram", "output": "parallelogram"}


def _label(lines: list[str]) -> str:
    # graphviz escapes nothing in plain labels but backslashes; `\n` centres each line
    return "\\n".join(line.replace("\\", "\\\\") for line in lines)


def _node(graph: Any, node: Node) -> None:
    style = "filled" if node.kind in ("input", "output", "add") else "rounded,filled"
    if node.kind == "collapsed":
        style = "rounded,filled,bold"
    graph.node(
        node.id,
        _label(node.lines),
        shape=_SHAPE.get(node.kind, "box"),
        style=style,
        fillcolor=FILL.get(node.family, "#ffffff"),
        tooltip=node.tooltip,
    )


def _fill(graph: Any, items: list[Node | Cluster]) -> None:
    for item in items:
        if isinstance(item, Node):
            _node(graph, item)
            continue
        with graph.subgraph(name=item.id) as sub:
            sub.attr(label=item.label, tooltip=item.tooltip, labeljust="l", fontname=_FONT, fontsize="11")
            sub.attr(**_CLUSTER.get(item.kind, _CLUSTER["container"]))
            _fill(sub, item.items)


def to_dot(diagram: Diagram) -> Any:
    """The diagram as a `graphviz.Digraph` (its `.source` is the DOT text)."""
    import graphviz

    graph = graphviz.Digraph(diagram.title, format="svg")
    graph.attr(rankdir="TB", newrank="true", nodesep="0.2", ranksep="0.3", fontname=_FONT, tooltip=diagram.title)
    graph.attr("node", fontname=_FONT, fontsize="10", margin="0.08,0.03", height="0.3", penwidth="0.8")
    graph.attr("edge", arrowsize="0.6", penwidth="0.8", color="#4b5563")
    _fill(graph, diagram.items)
    for row in diagram.rows:
        # newrank lets a rank=same group reach into clusters; invisible edges fix the order
        with graph.subgraph() as same:
            same.attr(rank="same")
            for left, right in zip(row, row[1:], strict=False):
                same.edge(left, right, style="invis")
    for edge in diagram.edges:
        if edge.skip:
            graph.edge(edge.src, edge.dst, style="dashed", color="#dc2626")
        else:
            graph.edge(edge.src, edge.dst)
    return graph


def render(diagram: Diagram, fmt: str) -> bytes:
    """SVG or PNG bytes from Graphviz's `dot`.

    Raises:
        InceptgenError: `dot` is not installed (the message says how to install it) or failed, or
            the diagram has more boxes than `MAX_LAYOUT_NODES`.
    """
    import graphviz

    boxes = sum(1 for _ in diagram.nodes())
    if boxes > MAX_LAYOUT_NODES:
        raise InceptgenError(
            f"the diagram has {boxes:,} boxes, more than the {MAX_LAYOUT_NODES:,} Graphviz lays out in seconds",
            hint="draw fewer levels (--depth 1), or write .dot or .mmd, which are not laid out here",
        )
    try:
        return to_dot(diagram).pipe(format=fmt, engine="dot")
    except graphviz.ExecutableNotFound:
        raise InceptgenError(DOT_MISSING.format(fmt=fmt.upper())) from None
    except graphviz.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise InceptgenError(f"Graphviz's dot failed: {detail[0] if detail else exc}") from None
