"""What one vocabulary entry holds, and the context its shape rule runs in."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import field
from types import MappingProxyType
from typing import Any

from inceptgen import expr as ex
from inceptgen.errors import Span, SpecArgumentError, SpecShapeError
from inceptgen.ops.kinds import Kind
from inceptgen.records import record

__all__ = ["Opt", "Op", "Inferred", "LayerContext", "Shape", "fmt_shape"]

Shape = tuple[int, ...]  # (C, H, W) for feature maps, (F,) after flatten / global pooling


@record
class Opt:
    """One option of a layer.

    Attributes:
        kind: what its value may be.
        default: its value when the spec gives none; a string names another option whose
            value it copies (pooling's stride is its kernel by default); None: required.
        implies: other options this one sets when given (`eps` implies `bn`).
        doc: one line for the docs and the language server.
        valued: whether a spec may write it as `key value` (`stride 2`); options that
            only flags set (`bias`/`nobias`) or only `->` sets are not.
    """

    kind: Kind
    default: ex.Expr | str | None
    doc: str = ""
    implies: Mapping[str, ex.Expr] = field(default_factory=dict)
    valued: bool = True


@record
class Inferred:
    """What a layer instance is, as its shape rule found it.

    Attributes:
        out_shape: the output shape.
        params: parameters in PyTorch's convention (frozen ones included).
        trainable: the trainable part of `params` (default: all of them).
        keras_params: what Keras' `count_params()` counts (default: `params`).
        macs: multiply-accumulates.
        values: derived values emitters and the summary read (pads, ...).
    """

    out_shape: Shape
    params: int = 0
    trainable: int | None = None
    keras_params: int | None = None
    macs: int = 0
    values: Mapping[str, object] = field(default_factory=dict)


@record
class LayerContext:
    """One layer instance being checked: its node, input shape and evaluated options."""

    op: str
    span: Span
    shape: Shape
    values: Mapping[str, Any]
    spans: Mapping[str, Span | None]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def shape_error(self, message: str, key: str | None = None, hint: str | None = None) -> SpecShapeError:
        return SpecShapeError(message, self._span(key), hint)

    def argument_error(self, message: str, key: str | None = None, hint: str | None = None) -> SpecArgumentError:
        return SpecArgumentError(message, self._span(key), hint)

    def need_map(self) -> tuple[int, int, int]:
        """The input as (C, H, W); refuse a flat input."""
        if len(self.shape) != 3:
            raise self.shape_error(f"{self.op} needs a CxHxW feature map, got a flat {fmt_shape(self.shape)}")
        return self.shape  # type: ignore[return-value]

    def _span(self, key: str | None) -> Span:
        return (self.spans.get(key) if key else None) or self.span


Rule = Callable[[LayerContext], Inferred]


@record
class Op:
    """One layer keyword of the language.

    Attributes:
        keyword: the word a spec writes (`conv`).
        summary: one line for the docs and the language server.
        options: every option with its kind and default.
        flags: words that set an option to a value (`nobias` -> bias false).
        infer: the shape and parameter rule.
        positional: the option a bare value sets (`conv 3x3`: kernel).
        arrow: the option `-> N` sets (required when given).
        category: how the docs group it.
    """

    keyword: str
    summary: str
    options: Mapping[str, Opt]
    flags: Mapping[str, tuple[str, ex.Expr]]
    infer: Rule
    positional: str | None = None
    arrow: str | None = None
    category: str = "layer"

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        object.__setattr__(self, "flags", MappingProxyType(dict(self.flags)))
        for word, (key, _) in self.flags.items():
            assert key in self.options, f"{self.keyword}: flag {word} sets unknown option {key}"
        for key in (self.positional, self.arrow):
            assert key is None or key in self.options, f"{self.keyword}: {key} is not an option"

    @property
    def valued(self) -> list[str]:
        """Options a spec writes as `key value`."""
        return [key for key, opt in self.options.items() if opt.valued]


def fmt_shape(shape: Shape) -> str:
    return "x".join(map(str, shape))
