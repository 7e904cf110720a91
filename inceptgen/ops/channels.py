"""Layers that rearrange channels or pad: channel slices, channel shuffle, zero padding."""

from __future__ import annotations

from inceptgen import expr as ex
from inceptgen.ops.base import Inferred, LayerContext, Op, Opt
from inceptgen.ops.kinds import COUNT, EXPLICIT_PADS, INDEX, optional

__all__ = ["CHANNELS"]


def _slice(ctx: LayerContext) -> Inferred:
    c = ctx.shape[0]
    start = ctx["start"]
    end = c if ctx["end"] is None else ctx["end"]
    if not 0 <= start < end <= c:
        raise ctx.shape_error(f"slice {start}:{end} is not within the input's {c} channels", "start")
    return Inferred((end - start, *ctx.shape[1:]), values={"stop": end})


def _shuffle(ctx: LayerContext) -> Inferred:
    c = ctx.need_map()[0]
    if c % ctx["groups"]:
        raise ctx.shape_error(f"shuffle groups {ctx['groups']} must divide the input's {c} channels", "groups")
    return Inferred(ctx.shape)


def _zeropad(ctx: LayerContext) -> Inferred:
    c, h, w = ctx.need_map()
    (top, bottom), (left, right) = ctx["pad"]
    return Inferred((c, h + top + bottom, w + left + right), values={"pads": (top, bottom, left, right)})


CHANNELS = (
    Op(
        "slice",
        "the channels from start to end (end excluded; default: to the last), x[:, start:end] in NCHW",
        {
            "start": Opt(INDEX, ex.Num(0), "the first channel kept"),
            "end": Opt(optional(INDEX), ex.Str("none"), "the channel after the last kept (default: all)"),
        },
        {},
        _slice,
        category="channels",
    ),
    Op(
        "shuffle",
        "channel shuffle (ShuffleNet): channel g * (C / groups) + k moves to k * groups + g",
        {"groups": Opt(COUNT, None, "the number of groups")},
        {},
        _shuffle,
        positional="groups",
        category="channels",
    ),
    Op(
        "zeropad",
        "zero padding of height and width: N, HxW or TxBxLxR (Keras' ZeroPadding2D)",
        {"pad": Opt(EXPLICIT_PADS, None, "N, HxW or TxBxLxR")},
        {},
        _zeropad,
        positional="pad",
        category="shape",
    ),
)
