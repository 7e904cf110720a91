"""The syntax tree: what the user wrote, with positions, nothing resolved."""

from __future__ import annotations

from dataclasses import dataclass

from inceptgen.errors import Span
from inceptgen.expr import Expr

__all__ = [
    "Param",
    "Option",
    "Layer",
    "Arg",
    "Call",
    "Concat",
    "Branch",
    "Residual",
    "Shortcut",
    "Gate",
    "Repeat",
    "If",
    "DefaultRule",
    "Defaults",
    "Stmt",
    "Import",
    "ModelDecl",
    "Variant",
    "BlockDef",
    "Stage",
    "Head",
    "Aux",
    "Item",
    "Module",
]


@dataclass(frozen=True)
class Param:
    """`name = default` in a model's or block's parameter list (`default` None: required)."""

    name: str
    default: Expr | None
    span: Span


@dataclass(frozen=True)
class Option:
    """`stride 2`, `pad same` (a value) or `relu`, `nobias` (a flag: value is None)."""

    key: str
    value: Expr | None
    span: Span


@dataclass(frozen=True)
class Layer:
    """`conv 3 -> 64 stride 2 as stem`: a layer keyword, its positional value, output and options."""

    op: str
    positional: Expr | None
    out: Expr | None
    options: tuple[Option, ...]
    name: str | None
    span: Span


@dataclass(frozen=True)
class Arg:
    """`name = value` or a positional `value` in a call or variant."""

    name: str | None
    value: Expr
    span: Span


@dataclass(frozen=True)
class Call:
    """`reduction(128, 160, 64, 96) as inception_3c`: a use of a block definition."""

    block: str
    args: tuple[Arg, ...]
    name: str | None
    span: Span


@dataclass(frozen=True)
class Concat:
    """`concat { branch { ... } ... }`: branches joined along channels."""

    name: str | None
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class Branch:
    """`branch name { ... }`: one path of a concat."""

    name: str | None
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class Residual:
    """`residual [scale] [as name] { ... }`: the body added to a shortcut of the input."""

    scale: Expr | None
    name: str | None
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class Shortcut:
    """The other path of a residual (only directly inside `residual { ... }`)."""

    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class Gate:
    """`gate { ... }`: the input times the body's output (broadcast)."""

    name: str | None
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class Repeat:
    """`repeat count [index i] [as name] { ... }`: copies of the body in sequence."""

    count: Expr
    index: str | None
    name: str | None
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class If:
    """`if cond { ... } else { ... }`; an `else if` is an `otherwise` holding one nested `If`."""

    cond: Expr
    then: tuple[Stmt, ...]
    otherwise: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class DefaultRule:
    """`conv: bn, relu` inside `defaults { ... }`: options every such layer gets unless it sets them."""

    op: str
    options: tuple[Option, ...]
    span: Span


@dataclass(frozen=True)
class Defaults:
    """`defaults { ... }`: the rules for the file (at top level) or for the enclosing body."""

    rules: tuple[DefaultRule, ...]
    span: Span


Stmt = Layer | Call | Concat | Branch | Residual | Shortcut | Gate | Repeat | If | Defaults


@dataclass(frozen=True)
class Import:
    """`import "path.incept"`: the path as written, without its quotes."""

    path: str
    span: Span


@dataclass(frozen=True)
class ModelDecl:
    """`model name(params)`: the model's name and parameters."""

    name: str
    params: tuple[Param, ...]
    span: Span


@dataclass(frozen=True)
class Variant:
    """`variant b1(width = 1.0, input = 3x240x240)`: named values for model parameters."""

    name: str
    args: tuple[Arg, ...]
    span: Span


@dataclass(frozen=True)
class BlockDef:
    """`block name(params) { ... }`: a reusable body."""

    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class Stage:
    """`stage name { ... }`: a named body run on the previous stage's output."""

    name: str
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class Head:
    """`head { ... }`: the classifier after the last stage."""

    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class Aux:
    """An auxiliary classifier fed by the output of stage `after`."""

    name: str
    after: str
    after_span: Span
    weight: Expr | None
    body: tuple[Stmt, ...]
    span: Span


Item = Import | ModelDecl | Variant | Defaults | BlockDef | Stage | Head | Aux


@dataclass(frozen=True)
class Module:
    """One parsed `.incept` file."""

    file: str
    items: tuple[Item, ...]
