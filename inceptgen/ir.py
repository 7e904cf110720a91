"""The IR: a small closed set of typed, frozen nodes, the contract between front and back ends.

Values that may depend on parameters stay expressions (`inceptgen.expr`): the checker
evaluates them for one set of parameter values, the emitters write them as Python.
Every node has a `name` unique within its scope (a block definition, a stage, the
head, an aux head, a repeat body); a node's path in the built model is the dotted
chain of the names of the scopes it is instantiated in (`s3.inception_3a.branch1_conv2`).

Layers are one node type, `Layer`, whose `op` is a keyword of the vocabulary
(`inceptgen.ops`); structure (branches, sums, products, repeats, conditions, block
uses) has a node type each. Which fields hold child bodies is declared once, in the
field's metadata, and `walk`, `bodies`, `map_bodies` and `exprs` read it: no other
module needs to know where a node keeps its children.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, ValuesView
from dataclasses import field, fields, replace
from typing import Any

from inceptgen.errors import Span
from inceptgen.expr import Expr, free_names
from inceptgen.records import record

__all__ = [
    "Args",
    "Layer",
    "Call",
    "Branch",
    "Concat",
    "Residual",
    "Gate",
    "Repeat",
    "If",
    "Node",
    "Body",
    "BodyField",
    "Param",
    "BlockDef",
    "Scope",
    "Aux",
    "Variant",
    "Model",
    "body_fields",
    "bodies",
    "map_bodies",
    "transform",
    "walk",
    "exprs",
]


class Args(Mapping[str, Expr]):
    """An immutable, ordered, hashable mapping of names to expressions (layer options, call arguments)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Expr] | tuple[tuple[str, Expr], ...] = ()) -> None:
        pairs = tuple(items.items()) if isinstance(items, Mapping) else tuple(items)
        object.__setattr__(self, "_items", dict(pairs))

    def __getitem__(self, key: str) -> Expr:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    # The dict's own read-only views: Mapping's generic ones call __getitem__ per key, and the
    # checker and emitters read every layer's options.
    def __contains__(self, key: object) -> bool:
        return key in self._items

    def keys(self) -> KeysView[str]:
        return self._items.keys()

    def values(self) -> ValuesView[Expr]:
        return self._items.values()

    def items(self) -> ItemsView[str, Expr]:
        return self._items.items()

    def get(self, key: str, default: Any = None) -> Any:
        return self._items.get(key, default)

    def __hash__(self) -> int:
        return hash(tuple(self._items.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Args) and tuple(self._items.items()) == tuple(other._items.items())

    def __repr__(self) -> str:
        return f"Args({self._items!r})"

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Args is immutable")


def _body(prefix: str = "", scope: bool = False, alternative: bool = False):
    """Declare a field holding a child body.

    Args:
        prefix: what the names of the body's nodes start with, `{name}` standing for the
            owning node's name (`branch1_` for the nodes of branch 1).
        scope: the body is a naming scope of its own (a repeat's copies), not part of the
            enclosing one.
        alternative: at most one of the node's alternative bodies is built (an `if`'s arms),
            so their nodes may share names.
    """
    return field(metadata={"body": BodyField(prefix, scope, alternative)})


@record
class BodyField:
    """How a body's nodes are named: with `prefix`, in the enclosing scope or a new one."""

    prefix: str
    scope: bool
    alternative: bool = False


@record
class Layer:
    """One layer: a keyword of the vocabulary with every option resolved (defaults included)."""

    op: str
    name: str
    span: Span
    args: Args

    @functools.cached_property
    def reads(self) -> tuple[str, ...]:
        """The names its options read, sorted (worked out once per node: the checker asks per instance)."""
        return tuple(sorted({name for e in self.args.values() for name in free_names(e)}))


@record
class Call:
    """An instance of a block definition: a sub-scope named `name`."""

    name: str
    span: Span
    block: str
    args: Args


@record
class Branch:
    """One path of a concat; its nodes are named `{name}_...`."""

    name: str
    span: Span
    body: Body = _body("{name}_")


@record
class Concat:
    """Parallel branches reading the same input, joined along channels in order."""

    name: str
    span: Span
    branches: tuple[Branch, ...] = _body()


@record
class Residual:
    """`shortcut(x) + scale * body(x)`; an empty shortcut is the identity."""

    name: str
    span: Span
    scale: Expr
    body: Body = _body()
    shortcut: Body = _body("shortcut_")


@record
class Gate:
    """`x * body(x)`, the body's output broadcast over the input (squeeze-excitation)."""

    name: str
    span: Span
    body: Body = _body("{name}_")


@record
class Repeat:
    """`count` copies of `body` in sequence; copy `i` is the sub-scope named `name.i`.

    `index` names the copy's number inside the body. When the body is a single block
    call, each copy *is* that block instance.
    """

    name: str
    span: Span
    count: Expr
    index: str | None
    body: Body = _body(scope=True)

    @property
    def single_call(self) -> Call | None:
        only = self.body[0] if len(self.body) == 1 else None
        return only if isinstance(only, Call) else None


@record
class If:
    """`then` where `cond` holds for an instance, else `otherwise` (either may be empty)."""

    name: str
    span: Span
    cond: Expr
    then: Body = _body(alternative=True)
    otherwise: Body = _body(alternative=True)


Node = Layer | Call | Branch | Concat | Residual | Gate | Repeat | If
Body = tuple[Node, ...]


def body_fields(node: Node) -> tuple[tuple[str, BodyField], ...]:
    """(field name, naming) of each child body a node type holds, in field order."""
    return _BODY_FIELDS[type(node)]


_BODY_FIELDS: dict[type, tuple[tuple[str, BodyField], ...]] = {
    cls: tuple((f.name, f.metadata["body"]) for f in fields(cls) if "body" in f.metadata)
    for cls in (Layer, Call, Branch, Concat, Residual, Gate, Repeat, If)
}


def bodies(node: Node) -> tuple[Body, ...]:
    """The child bodies of a node (a concat's branches count as one body of branches)."""
    return tuple(getattr(node, name) for name, _ in body_fields(node))


def map_bodies(node: Node, fn: Callable[[Body, str, BodyField], Body]) -> Node:
    """A copy of `node` with each child body replaced by `fn(body, field name, naming)`."""
    changes = {name: fn(getattr(node, name), name, naming) for name, naming in body_fields(node)}
    return replace(node, **changes) if changes else node


def transform(body: Body, fn: Callable[[Node], Node]) -> Body:
    """`fn` applied to every node of a body, children first (`fn` sees the transformed bodies)."""
    return tuple(fn(map_bodies(node, lambda child, *_: transform(child, fn))) for node in body)


def walk(body: Body) -> Iterator[Node]:
    """Every node of a body and of its nodes' bodies, in source order, parents before children."""
    stack = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        for child in reversed(bodies(node)):
            stack.extend(reversed(child))


def exprs(node: Node) -> Iterator[Expr]:
    """Every expression a node holds itself (not those of its children)."""
    args, single = _EXPR_FIELDS.get(type(node)) or _expr_fields(node)
    for name in args:
        yield from getattr(node, name).values()
    for name in single:
        yield getattr(node, name)


#: `exprs`' fields per node class: `dataclasses.fields` on every call was a tenth of lowering's time.
_EXPR_FIELDS: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _expr_fields(node: Node) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(fields holding `Args`, fields holding one expression) of the node's class, kept for the class."""
    found = (
        tuple(f.name for f in fields(node) if isinstance(getattr(node, f.name), Args)),
        tuple(f.name for f in fields(node) if f.name in ("scale", "count", "cond")),
    )
    _EXPR_FIELDS[type(node)] = found
    return found


@record
class Param:
    """A parameter of the model or of a block, with its default (None: the caller must give it)."""

    name: str
    default: Expr | None
    span: Span


@record
class BlockDef:
    """A block definition: parameters and a body, lowered once and instantiated by `Call`s."""

    name: str
    span: Span
    params: tuple[Param, ...]
    body: Body


@record
class Scope:
    """A stage or the head: a named body run on the previous scope's output."""

    name: str
    span: Span
    body: Body


@record
class Aux:
    """An auxiliary classifier on the output of stage `after`, weighted `weight` in the loss."""

    name: str
    span: Span
    after: str
    weight: Expr
    body: Body


@record
class Variant:
    """Named values for some model parameters (`--variant b1`)."""

    name: str
    span: Span
    values: Args


@record
class Model:
    """A whole lowered spec. `params` include `input` (a CxHxW size) and usually `classes`."""

    name: str
    file: str
    source_hash: str
    params: tuple[Param, ...]
    blocks: Mapping[str, BlockDef]
    stages: tuple[Scope, ...]
    auxes: tuple[Aux, ...]
    variants: tuple[Variant, ...]
    warnings: tuple[tuple[str, Span], ...]

    def block(self, name: str) -> BlockDef:
        return self.blocks[name]
