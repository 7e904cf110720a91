"""The syntax tree: what the user wrote, with positions, nothing resolved."""

from __future__ import annotations

from inceptgen.errors import Span
from inceptgen.expr import Expr
from inceptgen.records import record

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


@record
class Param:
    """`name = default` in a model's or block's parameter list (`default` None: required)."""

    name: str
    default: Expr | None
    span: Span


@record
class Option:
    """`stride 2`, `pad same` (a value) or `relu`, `nobias` (a flag: value is None)."""

    key: str
    value: Expr | None
    span: Span


@record
class Layer:
    """`conv 3 -> 64 stride 2 as stem`: a layer keyword, its positional value, output and options."""

    op: str
    positional: Expr | None
    out: Expr | None
    options: tuple[Option, ...]
    name: str | None
    span: Span


@record
class Arg:
    """`name = value` or a positional `value` in a call or variant."""

    name: str | None
    value: Expr
    span: Span


@record
class Call:
    """`reduction(128, 160, 64, 96) as inception_3c`: a use of a block definition."""

    block: str
    args: tuple[Arg, ...]
    name: str | None
    span: Span


@record
class Concat:
    """`concat { branch { ... } ... }`: branches joined along channels."""

    name: str | None
    body: tuple[Stmt, ...]
    span: Span


@record
class Branch:
    """`branch name { ... }`: one path of a concat."""

    name: str | None
    body: tuple[Stmt, ...]
    span: Span


@record
class Residual:
    """`residual [scale] [as name] { ... }`: the body added to a shortcut of the input."""

    scale: Expr | None
    name: str | None
    body: tuple[Stmt, ...]
    span: Span


@record
class Shortcut:
    """The other path of a residual (only directly inside `residual { ... }`)."""

    body: tuple[Stmt, ...]
    span: Span


@record
class Gate:
    """`gate { ... }`: the input times the body's output (broadcast)."""

    name: str | None
    body: tuple[Stmt, ...]
    span: Span


@record
class Repeat:
    """`repeat count [index i] [as name] { ... }`: copies of the body in sequence."""

    count: Expr
    index: str | None
    name: str | None
    body: tuple[Stmt, ...]
    span: Span


@record
class If:
    """`if cond { ... } else { ... }`; an `else if` is an `otherwise` holding one nested `If`."""

    cond: Expr
    then: tuple[Stmt, ...]
    otherwise: tuple[Stmt, ...]
    span: Span


@record
class DefaultRule:
    """`conv: bn, relu` inside `defaults { ... }`: options every such layer gets unless it sets them."""

    op: str
    options: tuple[Option, ...]
    span: Span


@record
class Defaults:
    """`defaults { ... }`: the rules for the file (at top level) or for the enclosing body."""

    rules: tuple[DefaultRule, ...]
    span: Span


Stmt = Layer | Call | Concat | Branch | Residual | Shortcut | Gate | Repeat | If | Defaults


@record
class Import:
    """`import "path.incept"`: the path as written, without its quotes."""

    path: str
    span: Span


@record
class ModelDecl:
    """`model name(params)`: the model's name and parameters."""

    name: str
    params: tuple[Param, ...]
    span: Span


@record
class Variant:
    """`variant b1(width = 1.0, input = 3x240x240)`: named values for model parameters."""

    name: str
    args: tuple[Arg, ...]
    span: Span


@record
class BlockDef:
    """`block name(params) { ... }`: a reusable body."""

    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span


@record
class Stage:
    """`stage name { ... }`: a named body run on the previous stage's output."""

    name: str
    body: tuple[Stmt, ...]
    span: Span


@record
class Head:
    """`head { ... }`: the classifier after the last stage."""

    body: tuple[Stmt, ...]
    span: Span


@record
class Aux:
    """An auxiliary classifier fed by the output of stage `after`."""

    name: str
    after: str
    after_span: Span
    weight: Expr | None
    body: tuple[Stmt, ...]
    span: Span


Item = Import | ModelDecl | Variant | Defaults | BlockDef | Stage | Head | Aux


@record
class Module:
    """One parsed `.incept` file."""

    file: str
    items: tuple[Item, ...]
