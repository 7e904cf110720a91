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
    op: str
    positional: Expr | None
    out: Expr | None
    options: tuple[Option, ...]
    name: str | None
    span: Span


@dataclass(frozen=True)
class Arg:
    name: str | None
    value: Expr
    span: Span


@dataclass(frozen=True)
class Call:
    block: str
    args: tuple[Arg, ...]
    name: str | None
    span: Span


@dataclass(frozen=True)
class Concat:
    name: str | None
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class Branch:
    name: str | None
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class Residual:
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
    count: Expr
    index: str | None
    name: str | None
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class If:
    cond: Expr
    then: tuple[Stmt, ...]
    otherwise: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class DefaultRule:
    op: str
    options: tuple[Option, ...]
    span: Span


@dataclass(frozen=True)
class Defaults:
    rules: tuple[DefaultRule, ...]
    span: Span


Stmt = Layer | Call | Concat | Branch | Residual | Shortcut | Gate | Repeat | If | Defaults


@dataclass(frozen=True)
class Import:
    path: str
    span: Span


@dataclass(frozen=True)
class ModelDecl:
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
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class Stage:
    name: str
    body: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True)
class Head:
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
