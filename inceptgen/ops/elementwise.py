"""Layers that keep or merely reshape their input: activations, dropout, flatten, identity."""

from __future__ import annotations

import math

from inceptgen import expr as ex
from inceptgen.ops.activations import ACTIVATIONS
from inceptgen.ops.base import Inferred, LayerContext, Op, Opt
from inceptgen.ops.kinds import NON_NEGATIVE, RATE

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
    Op(
        "leaky_relu",
        "activation: x if x > 0 else slope * x",
        {
            "slope": Opt(
                NON_NEGATIVE,
                ex.Num(0.01),
                "the negative slope, >= 0 as Keras wants (PyTorch's default 0.01, Keras' 0.3)",
            )
        },
        {},
        _same,
        positional="slope",
        category="activation",
    ),
    Op("softmax", "softmax over the channels (of a map, at each position)", {}, {}, _same, category="activation"),
    Op(
        "droppath",
        "stochastic depth: zero the whole sample with probability `rate` in training (scaling the rest by "
        "1 / (1 - rate)); the identity in inference",
        {"rate": Opt(RATE, None, "the drop probability, in [0, 1)")},
        {},
        _same,
        positional="rate",
        category="regularisation",
    ),
)
