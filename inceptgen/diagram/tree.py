"""The container tree of a checked spec, rebuilt from its flat node list.

`spec.checked.nodes` lists every node in execution order with a dotted path and a
nesting depth. A node belongs to the container before it while it is deeper than the
container or its path lies inside the container's path (a repeat copy's layers sit at
the copy's own depth, so depth alone is not enough). Branches of a `concat` are found
the same way: from explicit `branch` nodes where the checker gives them, otherwise
from the layers' `branchN_` name prefixes and their shapes.

The public `NodeInfo` attributes are read (`path`, `op`, `in_shape`, `out_shape`, `params`,
`depth`, `is_container`), and a concat's IR node for its branches (`ir.walk` over each body).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from inceptgen import ir

__all__ = ["Item", "build_tree"]

_NUMBERED = re.compile(r"branch(\d+)$")


@dataclass
class Item:
    """A node of the rebuilt tree.

    Attributes:
        info: the checker's `NodeInfo`; None for a branch found by name (the checker
            has no node for it) and for the pass-through of an empty branch.
        kind: `layer`, `container`, `branch` (a concat's branch) or `identity` (an
            empty branch: the concat's input itself).
        children: the items inside a container or branch, in execution order.
    """

    info: Any
    kind: str
    children: list[Item] = field(default_factory=list)

    @property
    def op(self) -> str:
        return self.kind if self.info is None else self.info.op

    def descendants(self) -> Iterator[Item]:
        """Every item below this one, depth first in execution order."""
        for child in self.children:
            yield child
            yield from child.descendants()


def _inside(node: Any, parent: Any) -> bool:
    return node.depth > parent.depth or node.path.startswith(parent.path + ".")


def build_tree(nodes: Sequence[Any]) -> list[Item]:
    """The top-level items (stages, the head, aux heads) with their contents nested."""
    root = Item(None, "root")
    stack = [root]
    for i, node in enumerate(nodes):
        while len(stack) > 1 and not _inside(node, stack[-1].info):
            stack.pop()
        following = nodes[i + 1] if i + 1 < len(nodes) else None
        # A container may hold nothing (a future op with an empty body); a node with
        # something inside it is a container whatever its op says.
        container = node.is_container or (following is not None and _inside(following, node))
        item = Item(node, "container" if container else "layer")
        stack[-1].children.append(item)
        if container:
            stack.append(item)
    for item in root.descendants():
        if item.op == "concat" and not all(c.op == "branch" for c in item.children):
            item.children = _ir_branches(item) or _branches(item.info, item.children)
    return root.children


def _ir_branches(concat: Item) -> list[Item] | None:
    """A concat's branches from its IR node: each child goes to the branch whose body holds it.

    An empty branch (the concat's input itself) keeps its place as an `identity`.
    """
    node = concat.info.node
    branches = getattr(node, "branches", None)
    if not branches:
        return None
    owner = {id(n): i for i, branch in enumerate(branches) for n in ir.walk(branch.body)}
    groups: list[list[Item]] = [[] for _ in branches]
    for child in concat.children:
        index = owner.get(id(child.info.node))
        if index is None:
            return None
        groups[index].append(child)
    return [Item(None, "branch", members) if members else Item(None, "identity") for members in groups]


# --------------------------------------------------------------------------- branches by name


def _leaf(item: Item) -> str:
    return item.info.path.rpartition(".")[2]


def _scope_prefix(children: Sequence[Item]) -> str:
    """What every layer name of this concat starts with (`branch1_` in a nested concat)."""
    common = os.path.commonprefix([_leaf(c) for c in children])
    return common[: common.rfind("_") + 1]


def _label(item: Item, prefix: str) -> str:
    return _leaf(item)[len(prefix) :].partition("_")[0]


def _branches(concat: Any, children: list[Item]) -> list[Item]:
    """Group a concat's children into its branches, adding the empty ones back.

    A child starts a new branch when it reads the concat's input and either does not
    read its predecessor's output or carries another branch label. Empty branches
    leave no node: their number is the channel deficit, their place the gaps in the
    `branchN` numbering (the rest go last).
    """
    prefix = _scope_prefix(children)
    groups: list[tuple[list[str], list[Item]]] = []
    for child in children:
        label = _label(child, prefix)
        if groups:
            labels, members = groups[-1]
            prev = members[-1].info
            reads_input = child.info.in_shape == concat.in_shape
            if not reads_input or (prev.out_shape == child.info.in_shape and label == labels[-1]):
                labels.append(label)
                members.append(child)
                continue
        groups.append(([label], [child]))
    return _with_empty_branches(concat, groups)


def _with_empty_branches(concat: Any, groups: list[tuple[list[str], list[Item]]]) -> list[Item]:
    channels = sum(members[-1].info.out_shape[0] for _, members in groups)
    width = concat.in_shape[0]
    deficit = concat.out_shape[0] - channels
    empty = deficit // width if width and deficit > 0 and deficit % width == 0 else 0
    out: list[Item] = []
    for labels, members in groups:
        numbered = next(filter(None, map(_NUMBERED.match, labels)), None)
        while numbered and empty and len(out) < int(numbered.group(1)):
            out.append(Item(None, "identity"))
            empty -= 1
        out.append(Item(None, "branch", members))
    out += [Item(None, "identity") for _ in range(empty)]
    return out
