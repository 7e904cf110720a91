"""Which names each expression may read, checked before any shape is known.

Inside a block: its parameters, `in.channels` and the index of an enclosing repeat.
Inside a stage, the head or an aux head: the model's parameters and repeat indices.
Checking this statically (not when the checker evaluates) covers code the checker never
evaluates for a given set of parameters, such as the untaken arm of an `if`: generated
code reads every name it holds.
"""

from __future__ import annotations

from inceptgen import expr as ex
from inceptgen import ir
from inceptgen.errors import SpecNameError

__all__ = ["check_scope_names"]


def check_scope_names(body: ir.Body, known: set[str], in_block: bool) -> None:
    """Refuse a name no expression of `body` can read.

    Raises:
        SpecNameError: with the name, its span and the names that are in scope.
    """
    stack: list[tuple[ir.Node, frozenset[str]]] = [(node, frozenset(known)) for node in body]
    while stack:
        node, names = stack.pop()
        for e in ir.exprs(node):
            if type(e) not in _LITERALS:  # most options are literals: nothing to look up
                _check_expr(e, names, in_block)
        inner = names | {node.index} if isinstance(node, ir.Repeat) and node.index else names
        for child in ir.bodies(node):
            stack.extend((n, inner) for n in child)


_LITERALS = frozenset({ex.Num, ex.Bool, ex.Size, ex.Str})


def _check_expr(e: ex.Expr, names: frozenset[str], in_block: bool) -> None:
    for sub in ex.walk(e):
        if isinstance(sub, ex.Ref) and sub.name not in names:
            shown = f"names in scope: {', '.join(sorted(names))}" if names else "no names are in scope here"
            raise SpecNameError(f"unknown name {sub.name!r}", sub.span, shown)
        if isinstance(sub, ex.Attr):
            _check_attr(sub, in_block)


def _check_attr(attr: ex.Attr, in_block: bool) -> None:
    key = f"{attr.obj}.{attr.attr}"
    if key in ("in.height", "in.width"):
        raise SpecNameError(
            f"{key} is not available: a block's generated PyTorch module does not depend on its input size",
            attr.span,
            "global_avgpool reduces any size; pass a size as a block parameter if a layer needs one",
        )
    if key != "in.channels":
        raise SpecNameError(f"unknown name {key!r}", attr.span, "the input's shape is in.channels")
    if not in_block:
        raise SpecNameError("in.channels is known only inside a block", attr.span, "stages read the model's parameters")
