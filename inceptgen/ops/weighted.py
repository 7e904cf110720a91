"""Layers with weights: conv and linear, each with optional batch-norm and activation."""

from __future__ import annotations

from inceptgen import expr as ex
from inceptgen.ops.activations import FUSABLE
from inceptgen.ops.base import Inferred, LayerContext, Op, Opt, fmt_shape
from inceptgen.ops.kinds import COUNT, FLAG, NON_NEGATIVE, PADS, PAIR, POSITIVE, UNIT, choice, optional
from inceptgen.ops.spatial import windows

__all__ = ["WEIGHTED", "norm_act_options", "norm_act_flags", "with_bn", "conv_window"]

_TRUE = ex.Bool(True)
_FALSE = ex.Bool(False)


#: Initialisers of weights (Keras' definitions, with the fans PyTorch computes for the layer):
#: he_* scale 2 over fan_in, glorot_* scale 1 over the mean of fan_in and fan_out, lecun_normal
#: scale 1 over fan_in; *_normal are normals truncated at 2 standard deviations.
INITIALISERS = ("default", "he_normal", "he_uniform", "glorot_normal", "glorot_uniform", "lecun_normal",
                "trunc_normal", "normal", "zeros", "ones")  # fmt: skip


def weight_options() -> dict[str, Opt]:
    """How a layer's weights start and are penalised."""
    return {
        "init": Opt(choice(*INITIALISERS), ex.Str("default"), "kernel initialiser (default: the framework's own)"),
        "std": Opt(POSITIVE, ex.Num(0.02), "standard deviation of `normal` and `trunc_normal`"),
        "l2": Opt(NON_NEGATIVE, ex.Num(0.0), "L2 penalty on the kernel, added to the loss (Keras' regularizers.l2)"),
        "bias_l2": Opt(NON_NEGATIVE, ex.Num(0.0), "L2 penalty on the bias"),
    }


def norm_act_options() -> dict[str, Opt]:
    """The batch-norm and activation that may follow a conv or linear layer, and its weights' settings."""
    return {
        **weight_options(),
        "bias": Opt(FLAG, _TRUE, "add a bias (nobias: none)", valued=False),
        "bn": Opt(FLAG, _FALSE, "batch-norm after the layer", valued=False),
        "eps": Opt(UNIT, ex.Num(1e-3), "batch-norm epsilon (implies bn)", {"bn": _TRUE}),
        "momentum": Opt(
            UNIT,
            ex.Num(0.99),
            "batch-norm momentum, Keras' convention: weight of the old average (implies bn)",
            {"bn": _TRUE},
        ),  # fmt: skip
        "scale": Opt(
            FLAG,
            _TRUE,
            "batch-norm learns gamma (noscale: Keras scale=False; either implies bn)",
            {"bn": _TRUE},
            valued=False,
        ),  # fmt: skip
        "act": Opt(choice("linear", *FUSABLE), ex.Str("linear"), "activation after the layer", valued=False),
    }


def norm_act_flags() -> dict[str, tuple[str, ex.Expr]]:
    return {
        "bias": ("bias", _TRUE),
        "nobias": ("bias", _FALSE),
        "bn": ("bn", _TRUE),
        "nobn": ("bn", _FALSE),
        "scale": ("scale", _TRUE),
        "noscale": ("scale", _FALSE),
        "linear": ("act", ex.Str("linear")),
        **{act: ("act", ex.Str(act)) for act in FUSABLE},
    }


def with_bn(ctx: LayerContext, channels: int, own: int) -> tuple[int, int, int]:
    """(PyTorch params, trainable, Keras params) of a layer and its batch-norm."""
    if not ctx["bn"]:
        return own, own, own
    gamma = channels if ctx["scale"] else 0
    # PyTorch always has gamma; without `scale` it is frozen at 1 (not trainable).
    return own + 2 * channels, own + channels + gamma, own + gamma + 3 * channels


def conv_window(ctx: LayerContext, h: int, w: int, pads, ceil: bool = False):
    """Output size and pads of a windowed layer; refuse a kernel larger than its padded input."""
    kernel, stride = ctx["kernel"], ctx["stride"]
    dilation = ctx.values.get("dilation", (1, 1))
    out, padding = windows((h, w), kernel, stride, dilation, pads, ceil)
    for axis, size in enumerate(out):
        if size <= 0:
            padded = (h, w)[axis] + (0 if isinstance(pads, str) else sum(pads[axis]))
            raise ctx.shape_error(
                f"{ctx.op} kernel {kernel[0]}x{kernel[1]} is larger than its padded input {padded} "
                f"({'height' if axis == 0 else 'width'}; input {h}x{w})"
            )
    return out, padding


def _conv(ctx: LayerContext) -> Inferred:
    cin, h, w = ctx.need_map()
    groups, cout = ctx["groups"], ctx["out"]
    if cin % groups or cout % groups:
        raise ctx.shape_error(f"groups={groups} must divide input channels {cin} and output channels {cout}", "groups")
    (oh, ow), pads = conv_window(ctx, h, w, ctx["pad"])
    kh, kw = ctx["kernel"]
    weights = kh * kw * (cin // groups) * cout
    params, trainable, keras = with_bn(ctx, cout, weights + (cout if ctx["bias"] else 0))
    return Inferred((cout, oh, ow), params, trainable, keras, oh * ow * weights, {"pads": pads})


def _dwconv(ctx: LayerContext) -> Inferred:
    cin, h, w = ctx.need_map()
    cout = cin if ctx["out"] is None else ctx["out"]
    if cout % cin:
        raise ctx.shape_error(f"a depthwise conv's output channels ({cout}) must be a multiple of its input's {cin}")
    (oh, ow), pads = conv_window(ctx, h, w, ctx["pad"])
    kh, kw = ctx["kernel"]
    weights = kh * kw * cout
    params, trainable, keras = with_bn(ctx, cout, weights + (cout if ctx["bias"] else 0))
    return Inferred((cout, oh, ow), params, trainable, keras, oh * ow * weights, {"pads": pads, "groups": cin})


def _sepconv(ctx: LayerContext) -> Inferred:
    cin, h, w = ctx.need_map()
    cout = ctx["out"]
    (oh, ow), pads = conv_window(ctx, h, w, ctx["pad"])
    kh, kw = ctx["kernel"]
    weights = kh * kw * cin + cin * cout
    params, trainable, keras = with_bn(ctx, cout, weights + (cout if ctx["bias"] else 0))
    return Inferred((cout, oh, ow), params, trainable, keras, oh * ow * weights, {"pads": pads})


def _windowed_options() -> dict[str, Opt]:
    return {
        "kernel": Opt(PAIR, None, "kernel size, N or HxW"),
        "stride": Opt(PAIR, ex.Num(1), "stride, N or HxW"),
        "pad": Opt(PADS, ex.Str("same"), "same (TensorFlow's rule), valid, N, HxW or TxBxLxR"),
        "dilation": Opt(PAIR, ex.Num(1), "dilation, N or HxW"),
    }


def _linear(ctx: LayerContext) -> Inferred:
    if len(ctx.shape) != 1:
        raise ctx.shape_error(
            f"linear needs a flat input, got {fmt_shape(ctx.shape)}", hint="add 'flatten' or 'global_avgpool' before it"
        )
    features, out = ctx.shape[0], ctx["out"]
    params, trainable, keras = with_bn(ctx, out, features * out + (out if ctx["bias"] else 0))
    return Inferred((out,), params, trainable, keras, features * out)


WEIGHTED = (
    Op(
        "conv",
        "2-D convolution, optionally followed by batch-norm and an activation",
        {
            "kernel": Opt(PAIR, None, "kernel size, N or HxW"),
            "out": Opt(COUNT, None, "output channels (`-> N`)", valued=False),
            "stride": Opt(PAIR, ex.Num(1), "stride, N or HxW"),
            "pad": Opt(PADS, ex.Str("same"), "same (TensorFlow's rule), valid, N, HxW or TxBxLxR"),
            "dilation": Opt(PAIR, ex.Num(1), "dilation, N or HxW"),
            "groups": Opt(COUNT, ex.Num(1), "channel groups"),
            **norm_act_options(),
        },
        norm_act_flags(),
        _conv,
        positional="kernel",
        arrow="out",
    ),
    Op(
        "dwconv",
        "depthwise conv: each input channel convolved on its own (groups = in.channels); `-> N` multiplies them",
        {
            **_windowed_options(),
            "out": Opt(
                optional(COUNT),
                ex.Str("none"),
                "output channels, a multiple of the input's (default: the same)",
                valued=False,
            ),  # fmt: skip
            **norm_act_options(),
        },
        norm_act_flags(),
        _dwconv,
        positional="kernel",
        arrow="out",
    ),
    Op(
        "sepconv",
        "separable conv: a depthwise conv then a 1x1 conv, as one layer (Keras' SeparableConv2D; Xception)",
        {
            **_windowed_options(),
            "out": Opt(COUNT, None, "output channels (`-> N`)", valued=False),
            **norm_act_options(),
        },
        norm_act_flags(),
        _sepconv,
        positional="kernel",
        arrow="out",
    ),
    Op(
        "linear",
        "fully connected layer on a flat input, optionally followed by batch-norm and an activation",
        {"out": Opt(COUNT, None, "output features (`-> N`)", valued=False), **norm_act_options()},
        norm_act_flags(),
        _linear,
        arrow="out",
    ),
)
