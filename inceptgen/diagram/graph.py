"""A spec as a drawable dataflow graph: nodes, edges and nested clusters.

The graph is independent of any drawing program: `dot.py` and `mermaid.py` each turn
it into their own text. Stages, block instances, repeats and aux heads become
clusters (or, past `--depth`, single nodes); a concat becomes its branches side by
side joined by a "concat" node, as GoogLeNet's figure 2 draws an Inception module;
a residual becomes its body and a "+" node that the block input also reaches by a
skip edge, as the Inception-ResNet figures draw it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from inceptgen.diagram import labels
from inceptgen.diagram.tree import Item, build_tree

__all__ = ["Node", "Edge", "Cluster", "Diagram", "build_diagram"]


@dataclass
class Node:
    """One box of the drawing.

    Attributes:
        id: unique in the diagram (a node's path; `@input`, `@output.NAME` for the ends).
        lines: the label, one entry a line.
        kind: `layer`, `concat`, `add`, `collapsed`, `input` or `output`.
        family: the colour family of a layer (`conv`, `pool`, ...), else the kind.
        tooltip: the node's full path, shown on hover in SVG.
    """

    id: str
    lines: list[str]
    kind: str
    family: str
    tooltip: str


@dataclass
class Edge:
    src: str
    dst: str
    skip: bool = False  # a residual's shortcut, drawn dashed


@dataclass
class Cluster:
    """A framed group: a stage, block instance, repeat, repeat copy, aux head or other container."""

    id: str
    label: str
    kind: str
    tooltip: str
    items: list[Node | Cluster] = field(default_factory=list)


@dataclass
class Diagram:
    """The whole drawing.

    Attributes:
        title: the model's name.
        items: top-level nodes and clusters, in execution order.
        edges: data flow, in the order drawn.
        rows: node ids to keep side by side, left to right: the first layer of each
            branch of a concat, so the branches appear in the spec's order.
    """

    title: str
    items: list[Node | Cluster]
    edges: list[Edge]
    rows: list[list[str]] = field(default_factory=list)

    def nodes(self) -> Iterator[Node]:
        """Every node, clusters' contents included."""
        yield from _nodes(self.items)

    def clusters(self) -> Iterator[Cluster]:
        """Every cluster, outer before inner."""
        yield from _clusters(self.items)


def _nodes(items: list[Node | Cluster]) -> Iterator[Node]:
    for item in items:
        if isinstance(item, Cluster):
            yield from _nodes(item.items)
        else:
            yield item


def _clusters(items: list[Node | Cluster]) -> Iterator[Cluster]:
    for item in items:
        if isinstance(item, Cluster):
            yield item
            yield from _clusters(item.items)


def build_diagram(spec: Any, depth: int | None = None, params: bool = False) -> Diagram:
    """The drawable graph of `spec`.

    Args:
        spec: an `inceptgen.Spec`.
        depth: how many levels of stages, blocks, repeats and their copies are drawn
            opened up; a container below that is one node. None opens everything down
            to single layers; 0 draws each stage as one node.
        params: add parameter counts to layers, collapsed nodes and cluster titles.
    """
    return _Builder(spec, depth, params).build()


class _Builder:
    def __init__(self, spec: Any, depth: int | None, params: bool) -> None:
        self.spec = spec
        self.depth = depth
        self.params = params
        self.edges: list[Edge] = []
        self.rows: list[list[str]] = []
        self.scopes: list[list[Node | Cluster]] = [[]]

    def build(self) -> Diagram:
        checked = self.spec.checked
        port = self._add(Node("@input", ["input", labels.shape_text(checked.input_shape)], "input", "input", "input"))
        top = build_tree(checked.nodes)
        aux_names = {a.name: a.after for a in self.spec.model.auxes}
        stage_out: dict[str, str] = {}
        for item in top:
            if item.info.path not in aux_names:
                port = stage_out[item.info.path] = self._item(item, port, 0)
        self._output("main", port)
        for item in top:
            if item.info.path in aux_names:
                tap = stage_out.get(aux_names[item.info.path], port)
                self._output(item.info.path, self._item(item, tap, 0))
        return Diagram(self.spec.model.name, self.scopes[0], self.edges, self.rows)

    # ------------------------------------------------------------------ plumbing

    def _add(self, node: Node) -> str:
        self.scopes[-1].append(node)
        return node.id

    def _connect(self, src: str, dst: str, skip: bool = False) -> str:
        self.edges.append(Edge(src, dst, skip))
        return dst

    def _output(self, name: str, port: str) -> None:
        outputs = self.spec.checked.outputs
        shape = outputs.get(name, ())
        title = "output" if len(outputs) == 1 else f"output {name}"
        node = Node(f"@output.{name}", [title, labels.shape_text(shape)], "output", "output", name)
        self._connect(port, self._add(node))

    def _flow(self, items: list[Item], port: str, level: int) -> str:
        for item in items:
            port = self._item(item, port, level)
        return port

    # ------------------------------------------------------------------ items

    def _item(self, item: Item, port: str, level: int) -> str:
        """Draw `item` reading from `port`; return the node its output leaves from."""
        if item.kind == "identity":
            return port
        if item.kind == "layer":
            info = item.info
            node = Node(info.path, labels.layer_lines(info, self.params), "layer", labels.family(info.op), info.path)
            return self._connect(port, self._add(node))
        if item.op == "concat":
            return self._concat(item, port, level)
        if item.op == "residual":
            return self._residual(item, port, level)
        if item.op == "branch":
            return self._flow(item.children, port, level)
        if self.depth is not None and level >= self.depth:
            return self._connect(port, self._add(self._collapsed(item)))
        return self._cluster(item, port, level)

    def _concat(self, item: Item, port: str, level: int) -> str:
        ends, heads = [], []
        for branch in item.children:
            start = len(self.edges)
            ends.append(self._item(branch, port, level))
            heads += [e.dst for e in self.edges[start:] if e.src == port][:1]
        if len(heads) > 1:
            self.rows.append(heads)
        info = item.info
        join = self._add(Node(info.path, ["concat", labels.shape_text(info.out_shape)], "concat", "concat", info.path))
        for end in ends:
            self._connect(end, join)
        return join

    def _residual(self, item: Item, port: str, level: int) -> str:
        end = self._flow(item.children, port, level)
        info = item.info
        values = getattr(info, "values", None)
        scale = values.get("scale", 1) if isinstance(values, Mapping) else 1
        sign = "+" if scale == 1 else f"+ ×{scale:g}"
        node = Node(info.path, [sign, labels.shape_text(info.out_shape)], "add", "add", info.path)
        add = self._add(node)
        self._connect(end, add)
        self._connect(port, add, skip=True)
        return add

    def _cluster(self, item: Item, port: str, level: int) -> str:
        cluster = Cluster(f"cluster_{item.info.path}", self._title(item), _kind(item.op), item.info.path)
        self.scopes[-1].append(cluster)
        self.scopes.append(cluster.items)
        try:
            return self._flow(item.children, port, level + 1)
        finally:
            self.scopes.pop()

    def _collapsed(self, item: Item) -> Node:
        info = item.info
        lines = [self._name(item), labels.shape_text(info.out_shape)]
        if self.params:
            lines.append(labels.count_text(_params(item)))
        return Node(info.path, lines, "collapsed", _kind(item.op), info.path)

    # ------------------------------------------------------------------ titles

    def _name(self, item: Item) -> str:
        """`stage stem`, `inception_3a: inception`, `repeat x10: block35`, `aux aux1`."""
        op, leaf = item.op, item.info.path.rpartition(".")[2]
        if op in ("stage", "aux"):
            return f"{op} {leaf}"
        if op.startswith("block:"):
            block = op.partition(":")[2]
            return block if leaf == block else f"{leaf}: {block}"
        if op.startswith("repeat x"):
            inner = {c.op.partition(":")[2] for c in item.children if c.op.startswith("block:")}
            return f"{op}: {inner.pop()}" if len(inner) == 1 else op
        if op == "repeat copy":
            return f"copy {leaf}"
        return f"{leaf} ({op})" if leaf != op else op

    def _title(self, item: Item) -> str:
        parts = [self._name(item)]
        if item.op == "aux":
            after = {a.name: a.after for a in self.spec.model.auxes}.get(item.info.path)
            if after:
                parts.append(f"after {after}")
        parts.append(labels.shape_text(item.info.out_shape))
        if self.params:
            parts.append(labels.count_text(_params(item)))
        return " · ".join(parts)


def _kind(op: str) -> str:
    """The cluster kind (and colour) of a container op; unknown ops are `container`."""
    for kind in ("stage", "aux", "block", "repeat copy", "repeat"):
        if op == kind or op.startswith(kind + ":") or op.startswith(kind + " "):
            return "copy" if kind == "repeat copy" else kind
    return "container"


def _params(item: Item) -> int:
    own = item.info.params if item.info is not None else 0
    return own + sum(d.info.params for d in item.descendants() if d.info is not None)
