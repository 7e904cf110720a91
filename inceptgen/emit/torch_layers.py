"""The PyTorch emitter's layer handlers: one function per vocabulary keyword (or family).

Each handler puts typed values on one statement (`stmt.values`, read by the statement's
macro in `templates/torch/ops.py.j2`) and returns the statement's output channels as an
expression, None where only the data can tell (after a flatten). Structure (calls,
repeats, concats, residuals, gates, ifs) stays in `inceptgen.emit.torch`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from inceptgen import expr as ex
from inceptgen.emit.scopes import ScopeView, Stmt
from inceptgen.emit.values import Py, const, kwargs, std_applies
from inceptgen.errors import UnsupportedError
from inceptgen.ops import ACTIVATIONS

if TYPE_CHECKING:
    from inceptgen.emit.torch import TorchEmitter

__all__ = ["LAYER_HANDLERS", "constant", "static_padding"]

Channels = ex.Expr | None  # None: unknown until the data flows (after a flatten)

_LINEAR_DEFAULTS: dict[str, object] = {
    "bias": True, "bn": False, "bn_eps": 1e-5, "bn_momentum": 0.1, "bn_scale": True, "act": "linear",
    "init": "default", "init_std": 0.02, "l2": 0.0, "bias_l2": 0.0,
}  # fmt: skip


def _pair(value: object) -> tuple[int, int] | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    return value if isinstance(value, tuple) and len(value) == 2 else None  # type: ignore[return-value]


def static_padding(pad: object, kernel: object, stride: object) -> tuple[int, int] | None:
    """The symmetric (ph, pw) an `nn` layer takes for a spec padding, or None if it needs more."""
    k, s = _pair(kernel), _pair(stride)
    if pad == "valid":
        return 0, 0
    if pad == "same":
        odd = k is not None and all(kk % 2 for kk in k)
        return ((k[0] - 1) // 2, (k[1] - 1) // 2) if s == (1, 1) and odd else None  # type: ignore[index]
    if isinstance(pad, int) and not isinstance(pad, bool):
        return pad, pad
    if isinstance(pad, tuple) and len(pad) == 2:
        return pad  # type: ignore[return-value]
    if isinstance(pad, tuple) and len(pad) == 4 and pad[0] == pad[1] and pad[2] == pad[3]:
        return pad[0], pad[2]
    return None


def constant(e: ex.Expr) -> Any:
    return None if ex.free_names(e) else ex.evaluate(e, {})


def _explicit(pad: object) -> tuple[tuple[int, int], tuple[int, int]]:
    """The spec's N, (H, W) or (top, bottom, left, right) as ((top, bottom), (left, right))."""
    if isinstance(pad, int):
        return (pad, pad), (pad, pad)
    if len(pad) == 2:  # type: ignore[arg-type]
        return (pad[0], pad[0]), (pad[1], pad[1])  # type: ignore[index]
    return (pad[0], pad[1]), (pad[2], pad[3])  # type: ignore[index]


def _torch_momentum(keras: Py) -> Py:
    """The spec's momentum is Keras' (the weight of the old average); PyTorch's is its complement."""
    if keras.known:
        return const(round(1 - keras.value, 12))
    return Py(f"1 - {keras.code}")


def conv(em: TorchEmitter, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
    a = stmt.node.args
    em.helpers |= {"ConvNormAct", "spec_padding"}
    if _needs_pad_same(a["pad"], a["stride"]):
        em.helpers.add("pad_same")
    out: Channels = a["out"]
    if stmt.kind == "dwconv" and constant(out) == "none":
        out = ch  # as many channels as its input
    if stmt.kind == "sepconv":
        em.helpers.add("SeparableConv2d")
    stmt.values.update(
        positional=[stmt.values["in_ch"], em.channels(out, view), em.window(a["kernel"], view, stmt)],
        conv_kwargs=_conv_kwargs(em, stmt, view),
        sources=(stmt.node.name,),
    )
    return out


def _conv_kwargs(em: TorchEmitter, stmt: Stmt, view: ScopeView) -> list[tuple[str, Py]]:
    a = stmt.node.args
    pairs = [
        ("stride", em.window(a["stride"], view, stmt)),
        ("padding", em.py(a["pad"], view, stmt)),
        ("dilation", em.window(a["dilation"], view, stmt)),
    ]
    # Every conv states every argument, so that the helper's defaults are the most common values.
    groups = {"conv": lambda: em.py(a["groups"], view, stmt), "dwconv": lambda: stmt.values["in_ch"]}
    pairs += [("groups", groups.get(stmt.kind, lambda: const(1))()), ("separable", const(stmt.kind == "sepconv"))]
    if em.optimize:  # batch-norm is folded into the conv: a bias takes its place
        return [*pairs, ("bias", const(True)), ("bn", const(False)), ("act", em.py(a["act"]))]
    return [*pairs, ("bias", em.py(a["bias"])), *_norm_act(em, stmt, view)]


def _weights(em: TorchEmitter, stmt: Stmt, view: ScopeView) -> list[tuple[str, Py]]:
    """How the layer's weights start and are penalised (only what the model uses reaches its helpers)."""
    a = stmt.node.args
    init, l2, bias_l2 = em.py(a["init"]), em.py(a["l2"], view, stmt), em.py(a["bias_l2"], view, stmt)
    if not init.is_("default"):
        em.helpers.add("init")
    if not all(v.known and v.value == 0 for v in (l2, bias_l2)):
        em.helpers.add("l2")
    else:  # no penalty: the helpers' own 0.0 (a spec's `l2 0` is not stated as `l2=0`)
        l2 = bias_l2 = const(0.0)
    std = em.py(a["std"], view, stmt) if std_applies(a["init"]) else const(_LINEAR_DEFAULTS["init_std"])
    return [("init", init), ("init_std", std), ("l2", l2), ("bias_l2", bias_l2)]


def _norm_act(em: TorchEmitter, stmt: Stmt, view: ScopeView) -> list[tuple[str, Py]]:
    a = stmt.node.args
    pairs = [*_weights(em, stmt, view), ("bn", em.py(a["bn"]))]
    if ex.evaluate(a["bn"], {}):
        pairs += [
            ("bn_eps", em.py(a["eps"], view, stmt)),
            ("bn_momentum", _torch_momentum(em.py(a["momentum"], view, stmt, precedence=6))),
            ("bn_scale", em.py(a["scale"])),
        ]
    return [*pairs, ("act", em.py(a["act"]))]


def _needs_pad_same(pad: ex.Expr, stride: ex.Expr) -> bool:
    """Whether TensorFlow's "same" must be worked out at run time (stride > 1, or not known)."""
    pad_value, stride_value = constant(pad), constant(stride)
    return pad_value is None or (pad_value == "same" and _pair(stride_value) != (1, 1))


def linear(em: TorchEmitter, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
    a = stmt.node.args
    unknown = ch is None
    em.lazy |= unknown
    fused = [p for p in [("bias", em.py(a["bias"])), *_norm_act(em, stmt, view)]]
    extra = kwargs(fused, _LINEAR_DEFAULTS)
    out = em.py(a["out"], view, stmt)
    if any(k.startswith(("bn=", "act=", "init=", "l2=", "bias_l2=")) for k in extra):
        em.helpers.add("LinearNormAct")
        stmt.values.update(cls="LinearNormAct", args=[stmt.values["in_ch"], out, *extra])
    else:
        cls = "nn.LazyLinear" if unknown else "nn.Linear"
        stmt.values.update(cls=cls, args=[*([] if unknown else [stmt.values["in_ch"]]), out, *extra])
    return a["out"]


def pool(em: TorchEmitter, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
    a, kind = stmt.node.args, stmt.node.op[:3]
    kernel, stride = em.window(a["kernel"], view, stmt), em.window(a["stride"], view, stmt)
    pad, ceil, count_pad = constant(a["pad"]), constant(a["ceil"]), constant(a["count_pad"])
    static = static_padding(pad, kernel.value, stride.value) if kernel.known and stride.known else None
    if static is not None:
        extra = [] if static == (0, 0) else [f"padding={const(static[0] if static[0] == static[1] else static)}"]
        if kind == "max":
            extra += ["ceil_mode=True"] if ceil else []
        elif static != (0, 0) and not count_pad:
            extra.append("count_include_pad=False")
        cls = "nn.MaxPool2d" if kind == "max" else "nn.AvgPool2d"
        stmt.values.update(cls=cls, args=[kernel, stride, *extra])
        return ch
    em.helpers |= {"Pool2d", "spec_padding"}
    if _needs_pad_same(a["pad"], a["stride"]):
        em.helpers.add("pad_same")
    extra = kwargs(
        [("padding", em.py(a["pad"], view, stmt)), ("ceil_mode", const(bool(ceil))),
         ("count_pad", const(bool(count_pad)))],
        {"padding": "valid", "ceil_mode": False, "count_pad": False},
    )  # fmt: skip
    stmt.values.update(cls="Pool2d", args=[repr(kind), kernel, stride, *extra])
    return ch


def passthrough(em: TorchEmitter, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
    return ch


def global_pool(em: TorchEmitter, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
    stmt.values["keepdims"] = ex.evaluate(stmt.node.args["keepdims"], {})
    return ch


def dropout(em: TorchEmitter, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
    stmt.values["rate"] = em.py(stmt.node.args["rate"], view, stmt)
    return ch


def flatten(em: TorchEmitter, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
    return None  # C * H * W: the spatial size is the data's


def activation(em: TorchEmitter, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
    stmt.values["call"] = ACTIVATIONS[stmt.node.op].torch_call
    return ch


def leaky_relu(em: TorchEmitter, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
    stmt.values["slope"] = em.forward_value(stmt, "slope", em.py(stmt.node.args["slope"], view, stmt))
    return ch


def _rank(em: TorchEmitter, stmt: Stmt) -> int:
    """The rank of a statement's input (3: a map, 1: flat), the same in every instance."""
    ranks = {len(info.in_shape) for info in em.checked.instances(stmt.node)}
    if not ranks:  # a block the model never uses: its class is emitted, never built
        return 3
    if len(ranks) != 1:
        what = f"{stmt.kind} on both feature maps and flat vectors"
        raise UnsupportedError(f"the torch target cannot express {what} in one block", stmt.node.span)
    return ranks.pop()


def bn(em: TorchEmitter, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
    a = stmt.node.args
    momentum = _torch_momentum(em.py(a["momentum"], view, stmt, precedence=6))
    dims = "2d" if _rank(em, stmt) == 3 else "1d"
    cls, width = f"nn.BatchNorm{dims}", [stmt.values["in_ch"]]
    if ch is None:  # after a flatten: the width the checker found, else sized by build_model's dry run
        known = _checked_width(em, stmt)
        if known is not None:
            width = [const(known)]
        else:
            cls, width, em.lazy = f"nn.LazyBatchNorm{dims}", [], True
    stmt.values.update(
        cls=cls,
        args=[*width, em.py(a["eps"], view, stmt), momentum],
        frozen=[p for p, key in (("weight", "scale"), ("bias", "center")) if not ex.evaluate(a[key], {})],
    )
    return ch


def _sized_lazily(em: TorchEmitter, stmt: Stmt, ch: Channels) -> bool:
    """Whether a per-channel layer on a flattened map sizes itself from its first input.

    PyTorch needs the width when building and the emitter's channel expressions stop at a
    flatten. The checker's width serves when every instance of the node sees the same one;
    when a block is used on maps of other sizes it differs, and the layer is a lazy module
    (`Lazy...`, sized by build_model's dry run, as nn.LazyLinear is).
    """
    if ch is not None or not em.checked.instances(stmt.node):  # known, or a block the model never uses
        return False
    width = _checked_width(em, stmt)
    if width is not None:
        stmt.values["in_ch"] = const(width)
        return False
    em.lazy = True  # each instance sizes itself from its input's dimension 1, a map's or a vector's
    return True


def _checked_width(em: TorchEmitter, stmt: Stmt) -> int | None:
    """The channels (or flat width) every instance of the statement's node sees, if they agree."""
    widths = {info.in_shape[0] for info in em.checked.instances(stmt.node)}
    return widths.pop() if len(widths) == 1 else None


def layernorm(em: TorchEmitter, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
    eps = f"eps={em.py(stmt.node.args['eps'], view, stmt)}"
    if _sized_lazily(em, stmt, ch):
        em.helpers.add("LazyLayerNorm")
        stmt.values.update(cls="LazyLayerNorm", args=[eps])
        return ch
    cls = "LayerNorm2d" if _rank(em, stmt) == 3 else "nn.LayerNorm"
    if cls == "LayerNorm2d":
        em.helpers.add("LayerNorm2d")
    stmt.values.update(cls=cls, args=[stmt.values["in_ch"], eps])
    return ch


def layerscale(em: TorchEmitter, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
    value = em.py(stmt.node.args["value"], view, stmt)
    lazy = _sized_lazily(em, stmt, ch)
    em.helpers.update({"LayerScale", "LazyLayerScale"} if lazy else {"LayerScale"})
    cls, width = ("LazyLayerScale", []) if lazy else ("LayerScale", [stmt.values["in_ch"]])
    stmt.values.update(cls=cls, args=[*width, value])
    return ch


def rescale(em: TorchEmitter, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
    a = stmt.node.args
    offset = em.py(a["offset"], view, stmt)
    factor = em.py(a["factor"], view, stmt, precedence=7)
    stmt.values.update(factor=em.forward_value(stmt, "factor", factor), offset=em.forward_value(stmt, "offset", offset))
    return ch


def normalize(em: TorchEmitter, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
    a = stmt.node.args
    given = [f"{key}={em.py(a[key], view, stmt)}" for key in ("mean", "variance") if constant(a[key]) != "none"]
    lazy = _sized_lazily(em, stmt, ch)  # then `check` has found one value for every channel
    em.helpers.update({"Normalize", "LazyNormalize"} if lazy else {"Normalize"})
    cls, width = ("LazyNormalize", []) if lazy else ("Normalize", [stmt.values["in_ch"]])
    stmt.values.update(cls=cls, args=[*width, *given])
    return ch


def channel_slice(em: TorchEmitter, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
    a = stmt.node.args
    start, end = em.py(a["start"], view, stmt), a["end"]
    stop = None if constant(end) == "none" else em.py(end, view, stmt)
    start, stop = em.forward_value(stmt, "start", start), stop and em.forward_value(stmt, "stop", stop)
    stmt.values.update(start="" if start.is_(0) else start, stop="" if stop is None else stop)
    width = ch if stop is None else end
    return None if width is None else ex.BinOp("-", width, a["start"])


def shuffle(em: TorchEmitter, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
    em.helpers.add("channel_shuffle")
    stmt.values["groups"] = em.forward_value(stmt, "groups", em.py(stmt.node.args["groups"], view, stmt))
    return ch


def zeropad(em: TorchEmitter, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
    pad = em.py(stmt.node.args["pad"], view, stmt)
    if pad.known:
        (top, bottom), (left, right) = _explicit(pad.value)
        stmt.values["pads"] = const((left, right, top, bottom))
    else:
        em.helpers.add("torch_pads")
        stmt.values["pads"] = em.forward_value(stmt, "pads", Py(f"torch_pads({pad})"))
    return ch


def lrn(em: TorchEmitter, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
    a = stmt.node.args
    stmt.values["args"] = [em.py(a[key], view, stmt) for key in ("size", "alpha", "beta", "offset")]
    return ch


def droppath(em: TorchEmitter, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
    em.helpers.add("DropPath")
    stmt.values["rate"] = em.py(stmt.node.args["rate"], view, stmt)
    return ch


#: Layer keyword -> handler: the vocabulary's half of the emitter's dispatch table.
LAYER_HANDLERS = {
    "conv": conv,
    "dwconv": conv,
    "sepconv": conv,
    "linear": linear,
    "maxpool": pool,
    "avgpool": pool,
    "global_avgpool": global_pool,
    "global_maxpool": global_pool,
    "dropout": dropout,
    "flatten": flatten,
    "identity": passthrough,
    **dict.fromkeys(ACTIVATIONS, activation),
    "leaky_relu": leaky_relu,
    "softmax": passthrough,
    "droppath": droppath,
    "bn": bn,
    "layernorm": layernorm,
    "layerscale": layerscale,
    "rescale": rescale,
    "normalize": normalize,
    "slice": channel_slice,
    "shuffle": shuffle,
    "zeropad": zeropad,
    "lrn": lrn,
}
