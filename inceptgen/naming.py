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


@dataclasses.dataclass
class _Wanted:
    """A node of the scope with the name it asks for (`explicit`: written with `as`)."""

    node: ir.Node
    name: str
    explicit: bool


@dataclasses.dataclass
class _Alternatives:
    """The bodies of a node of which at most one is built: an `if`'s arms."""

    arms: list[list[_Item]]


_Item = _Wanted | _Alternatives


def name_scope(body: ir.Body) -> ir.Body:
    """Give every node of one scope its final name (and every nested scope its own).

    Names are unique along every way through the scope's `if`s: the two arms of an `if`
    are never both built, so `if c { residual { body() } } else { body() }` names the
    block `body` in either arm, as it would be without the `if`.
    """
    items = _collect(body, "")
    explicit = {w.name for w in _wanted(items) if w.explicit}
    counts = _most_per_way(items)
    final: dict[int, str] = {}
    _number(items, Counter(), counts, explicit, final)
    return _rename(body, final)


def _collect(nodes: ir.Body, prefix: str) -> list[_Item]:
    items: list[_Item] = []
    for node in nodes:
        if not isinstance(node, ir.Branch):  # a branch is a label, not a member of the scope
            explicit = node.name != default_name(node)
            items.append(_Wanted(node, node.name if explicit else prefix + node.name, explicit))
        fields = [(f, naming) for f, naming in ir.body_fields(node) if not naming.scope]
        inner = prefix + "{}"
        arms = [_collect(getattr(node, f), inner.format(n.prefix.format(name=node.name))) for f, n in fields]
        alternative = [naming.alternative for _, naming in fields]
        if any(alternative):
            items.append(_Alternatives(arms))
        else:
            items.extend(item for arm in arms for item in arm)
    return items


def _wanted(items: list[_Item]) -> list[_Wanted]:
    out: list[_Wanted] = []
    for item in items:
        if isinstance(item, _Alternatives):
            out.extend(w for arm in item.arms for w in _wanted(arm))
        else:
            out.append(item)
    return out


def _most_per_way(items: list[_Item]) -> Counter[tuple[str, bool]]:
    """How often each (name, explicit) is asked for along the way through the scope that asks most."""
    total: Counter[tuple[str, bool]] = Counter()
    for item in items:
        if isinstance(item, _Alternatives):
            most: Counter[tuple[str, bool]] = Counter()
            for arm in item.arms:
                most |= _most_per_way(arm)  # | keeps the larger count
            total += most
        else:
            total[item.name, item.explicit] += 1
    return total


def _number(
    items: list[_Item],
    taken: Counter[str],
    counts: Counter[tuple[str, bool]],
    explicit: set[str],
    final: dict[int, str],
) -> None:
    """Name the items in order; `taken` holds the numbers (and explicit names) used on the way here."""
    for item in items:
        if isinstance(item, _Alternatives):
            after = []
            for arm in item.arms:
                way = taken.copy()
                _number(arm, way, counts, explicit, final)
                after.append(way)
            for way in after:
                taken |= way
            continue
        name = item.name
        if item.explicit:
            if taken["=" + name]:
                raise SpecNameError(f"name {name!r} is used twice in this scope", item.node.span)
            taken["=" + name] = 1
        elif counts[name, False] > 1 or name in explicit:
            while True:
                taken[name] += 1
                candidate = f"{name}{'_' if name[-1].isdigit() else ''}{taken[name]}"
                if candidate not in explicit and (candidate, False) not in counts:
                    break
            name = candidate
        final[id(item.node)] = name


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
