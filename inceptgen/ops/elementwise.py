"""Layers that keep or merely reshape their input: activations, dropout, flatten, identity."""

from __future__ import annotations

import math

from inceptgen.ops.activations import ACTIVATIONS
from inceptgen.ops.base import Inferred, LayerContext, Op, Opt
from inceptgen.ops.kinds import RATE

__all__ = ["ELEMENTWISE"]


def _same(ctx: LayerContext) -> Inferred:
    return Inferred(ctx.shape)


def _flatten(ctx: LayerContext) -> Inferred:
    return Inferred((math.prod(ctx.shape),))


ELEMENTWISE = (
    Op(
        "dropout",
        "zero a share of the values in training",
        {"rate": Opt(RATE, None, "the share, in [0, 1)")},
        {},
        _same,
        positional="rate",
        category="regularisation",
    ),  # fmt: skip
    Op("flatten", "CxHxW -> C*H*W, in channels-first order in both targets", {}, {}, _flatten, category="shape"),
    Op("identity", "the input unchanged", {}, {}, _same, category="shape"),
    *(Op(a.keyword, f"activation: {a.formula}", {}, {}, _same, category="activation") for a in ACTIVATIONS.values()),
)
