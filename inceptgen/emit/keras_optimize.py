"""`--optimize` for Keras: the inference graph of a spec, taking the plain build's weights.

Three rewrites, decided here and in the emitter, written by the templates:

- every conv's batch-norm is folded into the conv (a bias takes its place), and its
  activation is the Conv2D's own (`conv_act`), one layer where the plain build has three;
- the 1x1 convolutions opening sibling branches of a concat, reading the same input with
  the same activation, are one Conv2D followed by a split (`conv_split`): one wide matrix
  product instead of several narrow ones over the same input;
- the model is compiled with XLA where that pays (see `JIT_COMPILE`).

`load_reference(model, reference)` (generated) folds and stacks the weights of the plain
build, in the order of the split. The model is NHWC already: no layout change is needed.
"""

from __future__ import annotations

from typing import Any

from inceptgen import expr as ex
from inceptgen.emit.scopes import Stmt
from inceptgen.emit.torch_optimize import fusable  # one rule of which convs fuse, for both targets
from inceptgen.emit.values import Py, const

__all__ = ["JIT_COMPILE", "fusable", "fuse_siblings"]

#: Whether the optimised build turns on XLA (`model.jit_compile = True`). It does not pay on
#: the CPU: `inception_v3` at batch 8 ran at 0.69x of the same build without it (2-core
#: machine, load 6; README, Benchmarks), XLA's CPU convolutions being slower than oneDNN's.
JIT_COMPILE = False


def fuse_siblings(stmt: Stmt) -> list[dict[str, Any]]:
    """The fused convs of a concat: its branches' fusable first convs, grouped by activation.

    Each member is marked `fused_into` (the templates skip it); each group gets the
    values of one `conv_split` call, its `conv_kwargs` still to be reduced to those that
    differ from the helper's defaults.
    """
    groups: dict[str, list[Stmt]] = {}
    for branch in stmt.branches:
        if branch and fusable(branch[0].node):
            groups.setdefault(ex.evaluate(branch[0].node.args["act"], {}), []).append(branch[0])
    fused = []
    for members in groups.values():
        if len(members) < 2:
            continue
        name = f"{stmt.node.name}_fused_1x1" + (f"_{len(fused) + 1}" if fused else "")
        for member in members:
            member.values["fused_into"] = name
        filters: list[Py] = [m.values["positional"][0] for m in members]
        activation = dict(members[0].values["conv_kwargs"])["activation"]
        fused.append({
            "name": name,
            "outs": [m.out for m in members],
            "sources": tuple(m.node.name for m in members),
            "filters": Py(f"({', '.join(f.code for f in filters)})"),
            "conv_kwargs": [("activation", activation), ("sources", const(tuple(m.node.name for m in members)))],
        })  # fmt: skip
    return fused
