"""`--optimize` for PyTorch: the 1x1 convolutions opening sibling branches, fused into one.

Inference engines fuse these horizontally: one wide matrix product instead of several
narrow ones reading the same input. The fused conv is split back along the channels;
`load_reference` (generated) stacks the original weights in the order of the split.
Batch-norm folding and channels-last are decided in the emitter and the templates.
"""

from __future__ import annotations

from typing import Any

from inceptgen import expr as ex
from inceptgen import ir
from inceptgen.emit.scopes import Stmt
from inceptgen.emit.values import Py, const

__all__ = ["fuse_siblings"]


def _constant(e: ex.Expr) -> Any:
    return None if ex.free_names(e) else ex.evaluate(e, {})


def fusable(node: ir.Node) -> bool:
    """A 1x1, stride-1, ungrouped conv without padding: a candidate for horizontal fusion."""
    if not (isinstance(node, ir.Layer) and node.op == "conv"):
        return False
    a = node.args
    square = {1, (1, 1)}
    return (
        _constant(a["kernel"]) in square
        and _constant(a["stride"]) in square
        and _constant(a["groups"]) == 1
        and _constant(a["pad"]) in ("same", "valid", 0, (0, 0), (0, 0, 0, 0))
    )


def fuse_siblings(emitter: Any, stmt: Stmt) -> list[dict[str, Any]]:
    """Group the fusable convs that open the branches of a concat, by activation."""
    groups: dict[str, list[Stmt]] = {}
    for branch in stmt.branches:
        if branch and fusable(branch[0].node):
            groups.setdefault(ex.evaluate(branch[0].node.args["act"], {}), []).append(branch[0])
    fused = []
    for act, members in groups.items():
        if len(members) < 2:
            continue
        name = f"{stmt.node.name}_fused_1x1" + (f"_{len(fused) + 1}" if fused else "")
        for member in members:
            member.values["fused_into"] = name
        splits: list[Py] = [m.values["positional"][1] for m in members]
        sources = tuple(m.node.name for m in members)
        fused.append({
            "name": name,
            "outs": [m.out for m in members],
            "sources": sources,
            "splits": splits,
            "positional": [members[0].values["in_ch"], Py(" + ".join(s.code for s in splits)), const(1)],
            "conv_kwargs": [
                ("bias", const(True)), ("bn", const(False)), ("act", const(act)), ("sources", const(sources)),
            ],
        })  # fmt: skip
    return fused
