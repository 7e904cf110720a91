"""Unique, stable names for the nodes of each scope: `branch1_conv2`, `inception_3a`, `shortcut_conv`.

A scope is a block definition, a stage, the head, an aux head or a repeat body. Inside
it every layer, block use and container gets a name that is also its attribute in the
PyTorch class and its layer name in Keras. Explicit names (`as x`) are kept verbatim and
must be unique; generated names carry their body's prefix (`branch1_`) and get a 1-based
number when repeated. Which bodies add which prefix is declared on the IR fields.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from inceptgen import ir
from inceptgen.errors import SpecNameError

__all__ = ["default_name", "name_scope"]


def default_name(node: ir.Node) -> str:
    """The name a node gets when the spec gives none (before numbering)."""
    match node:
        case ir.Layer(op=op):
            return op
        case ir.Call(block=block):
            return block
        case ir.Branch(name=name):
            return name  # branches are labelled by position: `branch0`
    return _CONTAINER_NAMES[type(node)]


_CONTAINER_NAMES = {ir.Concat: "concat", ir.Residual: "residual", ir.Gate: "gate", ir.Repeat: "repeat", ir.If: "cond"}


def name_scope(body: ir.Body) -> ir.Body:
    """Give every node of one scope its final name (and every nested scope its own)."""
    wanted: list[tuple[ir.Node, str, bool]] = []
    _collect(body, "", wanted)
    explicit_seen: dict[str, ir.Node] = {}
    for node, name, explicit in wanted:
        if explicit:
            if name in explicit_seen:
                raise SpecNameError(f"name {name!r} is used twice in this scope", node.span)
            explicit_seen[name] = node
    counts = Counter(name for _, name, explicit in wanted if not explicit)
    final: dict[int, str] = {}
    numbers: Counter[str] = Counter()
    for node, name, explicit in wanted:
        if not explicit and (counts[name] > 1 or name in explicit_seen):
            while True:
                numbers[name] += 1
                candidate = f"{name}{'_' if name[-1].isdigit() else ''}{numbers[name]}"
                if candidate not in explicit_seen and candidate not in counts:
                    break
            name = candidate
        final[id(node)] = name
    return _rename(body, final)


def _collect(nodes: ir.Body, prefix: str, wanted: list[tuple[ir.Node, str, bool]]) -> None:
    for node in nodes:
        if not isinstance(node, ir.Branch):  # a branch is a label, not a member of the scope
            explicit = node.name != default_name(node)
            wanted.append((node, node.name if explicit else prefix + node.name, explicit))
        for field, naming in ir.body_fields(node):
            if not naming.scope:
                _collect(getattr(node, field), prefix + naming.prefix.format(name=node.name), wanted)


def _rename(body: ir.Body, final: dict[int, str]) -> ir.Body:
    def inner(child: ir.Body, _field: str, naming: ir.BodyField) -> ir.Body:
        return name_scope(child) if naming.scope else _rename(child, final)

    out = []
    for node in body:
        renamed = ir.map_bodies(node, inner)
        if not isinstance(node, ir.Branch):
            renamed = dataclasses.replace(renamed, name=final[id(node)])
        out.append(renamed)
    return tuple(out)
