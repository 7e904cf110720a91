"""Normalisation and input scaling: batch-norm, layer-norm, layer scale, rescale, normalize."""

from __future__ import annotations

from inceptgen import expr as ex
from inceptgen.ops.base import Inferred, LayerContext, Op, Opt
from inceptgen.ops.kinds import COUNT, FLAG, NUMBER, NUMBERS, POSITIVE, UNIT, optional

__all__ = ["NORM"]

_TRUE, _FALSE = ex.Bool(True), ex.Bool(False)
_NONE = ex.Str("none")


def _bn(ctx: LayerContext) -> Inferred:
    c = ctx.shape[0]
    gamma, beta = (c if ctx["scale"] else 0), (c if ctx["center"] else 0)
    # PyTorch holds gamma and beta always (frozen where Keras has none); Keras counts its running statistics.
    return Inferred(ctx.shape, 2 * c, gamma + beta, gamma + beta + 2 * c)


def _layernorm(ctx: LayerContext) -> Inferred:
    return Inferred(ctx.shape, 2 * ctx.shape[0])


def _layerscale(ctx: LayerContext) -> Inferred:
    return Inferred(ctx.shape, ctx.shape[0])


def _normalize(ctx: LayerContext) -> Inferred:
    c = ctx.shape[0]
    given = [ctx["mean"] is not None, ctx["variance"] is not None]
    if given[0] != given[1]:
        raise ctx.argument_error("normalize takes both mean and variance, or neither (to be set later)")
    for key in ("mean", "variance"):
        values = ctx[key]
        if values is not None and len(values) not in (1, c):
            hint = "give one value, or one per channel"
            raise ctx.argument_error(f"normalize {key} has {len(values)} values for {c} channels", key, hint)
    if given[1] and min(ctx["variance"]) <= 0:
        raise ctx.argument_error("normalize variance must be positive", "variance")
    # Keras holds mean, variance and a count as weights when they are left to be set (adapted).
    return Inferred(ctx.shape, 0, 0, 0 if given[0] else 2 * c + 1)


def _same(ctx: LayerContext) -> Inferred:
    return Inferred(ctx.shape)


def _lrn(ctx: LayerContext) -> Inferred:
    ctx.need_map()
    return Inferred(ctx.shape)


NORM = (
    Op(
        "bn",
        "batch normalisation over channels (of a map or a flat vector)",
        {
            "eps": Opt(UNIT, ex.Num(1e-3), "epsilon"),
            "momentum": Opt(UNIT, ex.Num(0.99), "momentum, Keras' convention: the weight of the old average"),
            "scale": Opt(FLAG, _TRUE, "learn gamma (noscale: gamma stays 1)", valued=False),
            "center": Opt(FLAG, _TRUE, "learn beta (nocenter: beta stays 0)", valued=False),
        },
        {
            "scale": ("scale", _TRUE),
            "noscale": ("scale", _FALSE),
            "center": ("center", _TRUE),
            "nocenter": ("center", _FALSE),
        },
        _bn,
        category="normalisation",
    ),
    Op(
        "layernorm",
        "layer normalisation over channels at each position (ConvNeXt's LayerNorm2d), learned gamma and beta",
        {"eps": Opt(POSITIVE, ex.Num(1e-5), "epsilon (PyTorch's default 1e-5; ConvNeXt uses 1e-6)")},
        {},
        _layernorm,
        category="normalisation",
    ),
    Op(
        "layerscale",
        "a learned per-channel scale, each initialised to `value` (ConvNeXt's layer scale)",
        {"value": Opt(NUMBER, ex.Num(1e-6), "the initial value of every scale")},
        {},
        _layerscale,
        positional="value",
        category="normalisation",
    ),
    Op(
        "rescale",
        "x * factor + offset (Keras' Rescaling)",
        {"factor": Opt(NUMBER, None, "the factor"), "offset": Opt(NUMBER, ex.Num(0.0), "added after scaling")},
        {},
        _same,
        positional="factor",
        category="input",
    ),
    Op(
        "normalize",
        "(x - mean) / sqrt(variance) per channel (Keras' Normalization); without values, they are weights to set",
        {
            "mean": Opt(optional(NUMBERS), _NONE, "per-channel means: one value or one per channel"),
            "variance": Opt(optional(NUMBERS), _NONE, "per-channel variances: one value or one per channel"),
        },
        {},
        _normalize,
        category="input",
    ),
    Op(
        "lrn",
        "local response normalisation across channels, as Caffe and PyTorch define it: "
        "x / (offset + alpha / size * sum of x^2 over `size` neighbouring channels) ^ beta",
        {
            "size": Opt(COUNT, ex.Num(5), "channels in the window: c - size // 2 .. c + (size - 1) // 2"),
            "alpha": Opt(NUMBER, ex.Num(1e-4), "the scale, divided by size (TensorFlow's alpha is not)"),
            "beta": Opt(NUMBER, ex.Num(0.75), "the exponent"),
            "offset": Opt(NUMBER, ex.Num(1.0), "the additive constant: PyTorch's k, TensorFlow's bias"),
        },
        {},
        _lrn,
        category="normalisation",
    ),
)
