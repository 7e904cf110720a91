"""The IR: a small closed set of typed, frozen nodes, the contract between front and back ends.

Values that may depend on parameters stay expressions (`inceptgen.expr`): the checker
evaluates them for one set of parameter values, the emitters write them as Python.
Every node has a `name` unique within its scope (a block definition, a stage, the
head, an aux head); a node's path in the built model is the dotted chain of the
names of the scopes it is instantiated in (`s3.inception_3a.branch1_conv2`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from inceptgen.errors import Span
from inceptgen.expr import Expr

__all__ = [
    "ACTIVATIONS",
    "BatchNorm",
    "Conv",
    "Pool",
    "GlobalPool",
    "Linear",
    "Dropout",
    "Flatten",
    "Act",
    "Identity",
    "Concat",
    "Branch",
    "Residual",
    "Repeat",
    "Call",
    "Node",
    "Layer",
    "Param",
    "BlockDef",
    "Scope",
    "Aux",
    "Model",
    "walk",
]

#: Activation functions both targets implement identically.
ACTIVATIONS = ("relu", "relu6", "sigmoid", "tanh", "silu")


@dataclass(frozen=True)
class BatchNorm:
    """Batch normalisation after a conv or linear layer.

    `momentum` follows Keras: the weight of the old running average (PyTorch's
    momentum is `1 - momentum`). `scale=False` drops the learned gamma.
    """

    eps: Expr
    momentum: Expr
    scale: bool


@dataclass(frozen=True)
class Conv:
    name: str
    span: Span
    kernel: Expr
    out: Expr
    stride: Expr
    pad: Expr
    dilation: Expr
    groups: Expr
    bias: bool
    bn: BatchNorm | None
    act: str | None


@dataclass(frozen=True)
class Pool:
    """Max or average pooling. `count_pad`: padded cells count in an average."""

    name: str
    span: Span
    kind: str
    kernel: Expr
    stride: Expr
    pad: Expr
    ceil: bool
    count_pad: bool


@dataclass(frozen=True)
class GlobalPool:
    name: str
    span: Span
    kind: str


@dataclass(frozen=True)
class Linear:
    name: str
    span: Span
    out: Expr
    bias: bool
    bn: BatchNorm | None
    act: str | None


@dataclass(frozen=True)
class Dropout:
    name: str
    span: Span
    rate: Expr


@dataclass(frozen=True)
class Flatten:
    name: str
    span: Span


@dataclass(frozen=True)
class Act:
    name: str
    span: Span
    fn: str


@dataclass(frozen=True)
class Identity:
    name: str
    span: Span


@dataclass(frozen=True)
class Branch:
    name: str
    span: Span
    body: tuple[Node, ...]


@dataclass(frozen=True)
class Concat:
    """Parallel branches reading the same input, joined along channels in order."""

    name: str
    span: Span
    branches: tuple[Branch, ...]


@dataclass(frozen=True)
class Residual:
    """`x + scale * body(x)`; the body's output must have the input's shape."""

    name: str
    span: Span
    scale: Expr
    body: tuple[Node, ...]


@dataclass(frozen=True)
class Repeat:
    """`count` copies of `body` in sequence; copy `i` is the sub-scope named `name.i`.

    When the body is a single block call, each copy *is* that block instance.
    """

    name: str
    span: Span
    count: Expr
    body: tuple[Node, ...]

    @property
    def single_call(self) -> Call | None:
        only = self.body[0] if len(self.body) == 1 else None
        return only if isinstance(only, Call) else None


@dataclass(frozen=True)
class Call:
    """An instance of a block definition: a sub-scope named `name`."""

    name: str
    span: Span
    block: str
    args: tuple[tuple[str, Expr], ...]


Layer = Conv | Pool | GlobalPool | Linear | Dropout | Flatten | Act | Identity
Node = Layer | Concat | Branch | Residual | Repeat | Call


@dataclass(frozen=True)
class Param:
    name: str
    default: Expr | None
    span: Span


@dataclass(frozen=True)
class BlockDef:
    name: str
    span: Span
    params: tuple[Param, ...]
    body: tuple[Node, ...]


@dataclass(frozen=True)
class Scope:
    """A stage or the head: a named body run on the previous scope's output."""

    name: str
    span: Span
    body: tuple[Node, ...]


@dataclass(frozen=True)
class Aux:
    """An auxiliary classifier on the output of stage `after`, weighted `weight` in the loss."""

    name: str
    span: Span
    after: str
    weight: Expr
    body: tuple[Node, ...]


@dataclass(frozen=True)
class Model:
    """A whole lowered spec. `params` include `input` (a CxHxW size) and usually `classes`."""

    name: str
    file: str
    source_hash: str
    params: tuple[Param, ...]
    blocks: dict[str, BlockDef]
    stages: tuple[Scope, ...]
    auxes: tuple[Aux, ...] = ()
    warnings: tuple[tuple[str, Span], ...] = field(default=())

    def block(self, name: str) -> BlockDef:
        return self.blocks[name]


def children(node: Node) -> tuple[Node, ...]:
    """Direct sub-nodes of a node within the same scope."""
    match node:
        case Concat(branches=branches):
            return branches
        case Branch(body=body) | Residual(body=body) | Repeat(body=body):
            return body
    return ()


def walk(body: tuple[Node, ...]) -> Iterator[Node]:
    """Every node of a body within its scope, in source order, parents before children."""
    for node in body:
        yield node
        yield from walk(children(node))
