"""Pooling layers: windowed max and average pooling, global pooling."""

from __future__ import annotations

from inceptgen import expr as ex
from inceptgen.ops.base import Inferred, LayerContext, Op, Opt
from inceptgen.ops.kinds import FLAG, PADS, PAIR
from inceptgen.ops.weighted import conv_window

__all__ = ["POOLING"]


def _pool(ctx: LayerContext) -> Inferred:
    c, h, w = ctx.need_map()
    pads, kernel = ctx["pad"], ctx["kernel"]
    if ctx["ceil"] and pads == "same":
        raise ctx.argument_error("ceil mode needs explicit padding, not 'same'")
    if ctx["ceil"] and ctx.op == "avgpool":
        raise ctx.argument_error("ceil mode is supported for maxpool only")
    if not isinstance(pads, str) and any(p > k // 2 for pair, k in zip(pads, kernel, strict=True) for p in pair):
        shown = (pads[0][0], pads[0][1], pads[1][0], pads[1][1])
        raise ctx.shape_error(f"pooling padding {shown} is more than half the kernel {kernel}", "pad")
    (oh, ow), padding = conv_window(ctx, h, w, pads, ctx["ceil"])
    return Inferred((c, oh, ow), values={"pads": padding})


def _global(ctx: LayerContext) -> Inferred:
    c, _, _ = ctx.need_map()
    return Inferred((c, 1, 1) if ctx["keepdims"] else (c,))


def _global_op(keyword: str, summary: str) -> Op:
    keepdims = Opt(FLAG, ex.Bool(False), "keep height and width as 1x1 (for a gate's body)", valued=False)
    flags = {"keepdims": ("keepdims", ex.Bool(True)), "flat": ("keepdims", ex.Bool(False))}
    return Op(keyword, summary, {"keepdims": keepdims}, flags, _global, category="pooling")


def _windowed(keyword: str, summary: str) -> Op:
    return Op(
        keyword,
        summary,
        {
            "kernel": Opt(PAIR, None, "window size, N or HxW"),
            "stride": Opt(PAIR, "kernel", "stride (default: the kernel)"),
            "pad": Opt(PADS, ex.Str("valid"), "valid, same, N, HxW or TxBxLxR; -inf for max, zeros for average"),
            "ceil": Opt(FLAG, ex.Bool(False), "round the output size up (PyTorch's ceil_mode)", valued=False),
            "count_pad": Opt(FLAG, ex.Bool(False), "padded cells count in an average", valued=False),
        },
        {
            "ceil": ("ceil", ex.Bool(True)),
            "floor": ("ceil", ex.Bool(False)),
            "count_pad": ("count_pad", ex.Bool(True)),
            "exclude_pad": ("count_pad", ex.Bool(False)),
        },
        _pool,
        positional="kernel",
        category="pooling",
    )


POOLING = (
    _windowed("maxpool", "max pooling over a window"),
    _windowed("avgpool", "average pooling over a window"),
    _global_op("global_avgpool", "mean over height and width: CxHxW -> C (keepdims: Cx1x1)"),
    _global_op("global_maxpool", "max over height and width: CxHxW -> C (keepdims: Cx1x1)"),
)
