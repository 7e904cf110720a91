"""The Keras emitter: one functional builder per scope, channels-last, standard layers only.

Layer names are the IR paths with "-" for "." (Keras' torch backend refuses dots in
names), so a PyTorch state dict maps onto the Keras weights by name. Where Keras'
defaults differ from the spec's meaning (see GUIDE section 2), the generated helpers
choose the layers that compute it exactly. Each handler below puts typed values on
one statement; `templates/keras/ops.py.j2` holds the code it becomes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any, ClassVar

from inceptgen import expr as ex
from inceptgen import ir
from inceptgen.emit.base import Emitter
from inceptgen.emit.keras_optimize import JIT_COMPILE, fuse_siblings
from inceptgen.emit.render import environment
from inceptgen.emit.scopes import ScopeView, Stmt, walk_stmts
from inceptgen.emit.values import Py, const, kwargs, std_applies
from inceptgen.ops import ACTIVATIONS

__all__ = ["KerasEmitter", "channels_last", "CUSTOM_LAYERS"]

#: The layer classes generated modules define (registered with Keras, so that `.keras` files load).
CUSTOM_LAYERS = frozenset(
    {"Pad2D", "MaskedAveragePooling2D", "DropPath", "LayerScale", "ChannelSlice", "LocalResponseNorm"}
)

#: conv_norm_act's defaults when no conv of the model says otherwise.
_CONV_DEFAULTS: dict[str, object] = {
    "strides": 1, "padding": "same", "dilation_rate": 1, "groups": 1, "kind": "conv", "use_bias": True, "bn": False,
    "bn_eps": 1e-3, "bn_momentum": 0.99, "scale": True, "activation": "linear",
    "init": "default", "init_std": 0.02, "l2": 0.0, "bias_l2": 0.0,
}  # fmt: skip
_DENSE_DEFAULTS: dict[str, object] = {
    "use_bias": True, "bn": False, "bn_eps": 1e-3, "bn_momentum": 0.99, "scale": True, "activation": "linear",
    "init": "default", "init_std": 0.02, "l2": 0.0, "bias_l2": 0.0,
}  # fmt: skip


def channels_last(shape: tuple[int, ...]) -> str:
    """A checker shape (C, H, W) as Keras prints it, H x W x C; (F,) stays."""
    dims = (*shape[1:], shape[0]) if len(shape) == 3 else shape
    return " x ".join(map(str, dims))


def _constant(e: ex.Expr) -> Any:
    return None if ex.free_names(e) else ex.evaluate(e, {})


def _shape_of(value: object) -> tuple[int, ...] | None:
    """The shape of a constant mean or variance (a number or a list), None when not a constant."""
    if isinstance(value, tuple | list):
        return (len(value),)
    return () if isinstance(value, int | float) else None


def _explicit(pad: object) -> tuple[tuple[int, int], tuple[int, int]]:
    """The spec's N, (H, W) or (top, bottom, left, right) as ((top, bottom), (left, right))."""
    if isinstance(pad, int):
        return (pad, pad), (pad, pad)
    if len(pad) == 2:  # type: ignore[arg-type]
        return (pad[0], pad[0]), (pad[1], pad[1])  # type: ignore[index]
    return (pad[0], pad[1]), (pad[2], pad[3])  # type: ignore[index]


def _pair(value: object) -> tuple[int, int] | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    return value if isinstance(value, tuple) and len(value) == 2 else None  # type: ignore[return-value]


class KerasEmitter(Emitter):
    target = "keras"

    def template_values(self) -> dict[str, object]:
        self.helpers: set[str] = set()
        self.instances = defaultdict(list)
        for info in self.checked.nodes:
            self.instances[id(info.node)].append(info)
        self.block_views = {v.spec_name: v for v in self.views if v.kind == "block"}
        for view in self.views:
            self.prepare(view.stmts, view)
            for stmt in walk_stmts(view.stmts):
                if self.optimize and stmt.kind == "concat":
                    stmt.values["fused"] = fuse_siblings(stmt)
                    self.helpers |= {"conv_split", "ChannelSplit"} if stmt.values["fused"] else set()
        conv = self._conv_defaults()
        for view in self.views:
            view.values["signature"] = self._signature(view)
            for stmt in walk_stmts(view.stmts):
                if "conv_kwargs" in stmt.values:
                    stmt.values["args"] = [*stmt.values["positional"], *kwargs(stmt.values["conv_kwargs"], conv)]
                for f in stmt.values.get("fused", []):
                    f["args"] = [f["filters"], *kwargs(f["conv_kwargs"], conv)]
        parts = self._parts()
        return {
            "header": self.header(),
            "views": self.views,
            "parts": [p for p in parts if not p["aux"]],
            "auxes": [p for p in parts if p["aux"]],
            "model_name": self.model.name,
            "params": self.model_params(),
            "helpers": self.helpers | {f for f in self.functions_used() if ex.FUNCTIONS[f].helper},
            "conv": {k: repr(v) for k, v in conv.items()},
            "needs_math": self.needs_math() or bool(self.helpers & {"Pad2D", "init"}),
            "custom_layers": sorted(self.helpers & CUSTOM_LAYERS),
            "body": self._body_renderer(),
            "hwc": channels_last,
            "optimize": self.optimize,
            "needs_numpy": self.optimize or "numpy" in self.helpers,
            "jit_compile": self.optimize and JIT_COMPILE,
        }

    def _body_renderer(self) -> Callable[[list[Stmt]], str]:
        """`body(stmts)` for the templates: each statement through its macro (`handler` checked they exist)."""
        macros: Any = None

        def body(stmts: list[Stmt]) -> str:
            return "".join(str(getattr(macros, stmt.macro)(stmt)) for stmt in stmts if "fused_into" not in stmt.values)

        context = {"body": body, "hwc": channels_last, "optimize": self.optimize}
        macros = environment().get_template("keras/ops.py.j2").make_module(context)
        return body

    # ------------------------------------------------------------------ scopes
    def _signature(self, view: ScopeView) -> str:
        """`x, c1: int, scale: float = 0.17, *, name: str` for a builder function."""
        types = {p.name: self.annotation(p.default) for b in self.model.blocks.values() for p in b.params}
        types |= {p["name"]: p["annotation"] for p in self.model_params()}
        params = ["x"]
        for spec, py, default in view.params:
            kind = self.annotation(default) if default is not None else types.get(spec, types.get(py, "int"))
            params.append(f"{py}: {kind}" + ("" if default is None else f" = {self.py(default)}"))
        return ", ".join([*params, "*", "name: str"])

    def _parts(self) -> list[dict[str, Any]]:
        parts = []
        for scope in (*self.model.stages, *self.model.auxes):
            view = self.scopes.parts[scope.name]
            call_args = self.scopes.part_args.get(scope.name)
            if call_args is not None:  # the stage is one block use: its arguments, in build_model's names
                args = [f"{py}={self.py(call_args[spec])}" for spec, py, _ in view.params]
            else:
                args = [f"{py}={py}" for _, py, _ in view.params]
            is_aux = isinstance(scope, ir.Aux)
            parts.append({
                "name": scope.name, "func": view.func_name, "args": args, "aux": is_aux,
                "after": getattr(scope, "after", None), "var": f"{scope.name}_out",
                "shape": channels_last(self.checked.node(scope.name).out_shape),
            })  # fmt: skip
        return parts

    def _conv_defaults(self) -> dict[str, object]:
        """conv_norm_act's defaults: for each argument, the value most of the model's convs use."""
        counts: dict[str, Counter] = {key: Counter() for key in _CONV_DEFAULTS}
        for view in self.views:
            for stmt in walk_stmts(view.stmts):
                pairs = [] if "fused_into" in stmt.values else stmt.values.get("conv_kwargs", [])
                for key, value in [*pairs, *(p for f in stmt.values.get("fused", []) for p in f["conv_kwargs"])]:
                    if key in counts and value.known:
                        counts[key][repr(value.value)] += 1
        import ast

        defaults = dict(_CONV_DEFAULTS)
        defaults.update({key: ast.literal_eval(seen.most_common(1)[0][0]) for key, seen in counts.items() if seen})
        return defaults

    # ------------------------------------------------------------------ layers
    def _conv(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        a = stmt.node.args
        self.helpers.add("conv_act" if self.optimize else "conv_norm_act")
        pad, stride, dilation = _constant(a["pad"]), _pair(_constant(a["stride"])), _pair(_constant(a["dilation"]))
        if pad not in ("same", "valid"):
            self.helpers.add("explicit_padding")
        if stride is None or dilation is None or (max(stride) > 1 and max(dilation) > 1):
            self.helpers |= {"subsample", "explicit_padding"}
        kind = {"conv": "conv", "dwconv": "depthwise", "sepconv": "separable"}[stmt.kind]
        if kind != "conv":
            self.helpers.add(kind)
        pairs = [
            ("strides", self.window(a["stride"], view, stmt)),
            ("padding", self.py(a["pad"], view, stmt)),
            ("dilation_rate", self.window(a["dilation"], view, stmt)),
            ("groups", self.py(a["groups"], view, stmt) if kind == "conv" else const(1)),
            ("kind", const(kind)),
        ]
        if self.optimize:  # batch-norm folded into the conv's bias, the activation the conv's own
            pairs.append(("activation", self._activation_name(a["act"])))
        else:
            pairs += [("use_bias", self.py(a["bias"])), *self._norm_act(stmt, view)]
        as_many = kind == "depthwise" and _constant(a["out"]) == "none"  # as many channels as its input
        filters = Py(f"{stmt.inp}.shape[-1]") if as_many else self.py(a["out"], view, stmt)
        return {"positional": [filters, self.window(a["kernel"], view, stmt)], "conv_kwargs": pairs}

    def _weights(self, stmt: Stmt, view: ScopeView) -> list[tuple[str, Py]]:
        """How the layer's weights start and are penalised (only what the model uses reaches its helpers)."""
        a = stmt.node.args
        init, l2, bias_l2 = self.py(a["init"]), self.py(a["l2"], view, stmt), self.py(a["bias_l2"], view, stmt)
        if not init.is_("default"):
            self.helpers.add("init")
        if not all(v.known and v.value == 0 for v in (l2, bias_l2)):
            self.helpers.add("l2")
        else:  # no penalty: the helpers' own 0.0 (a spec's `l2 0` is not stated as `l2=0`)
            l2 = bias_l2 = const(0.0)
        std = self.py(a["std"], view, stmt) if std_applies(a["init"]) else const(_DENSE_DEFAULTS["init_std"])
        return [("init", init), ("init_std", std), ("l2", l2), ("bias_l2", bias_l2)]

    def _norm_act(self, stmt: Stmt, view: ScopeView) -> list[tuple[str, Py]]:
        a = stmt.node.args
        pairs = [*self._weights(stmt, view), ("bn", self.py(a["bn"]))]
        if ex.evaluate(a["bn"], {}):
            # The spec's momentum is already Keras' (the weight of the old running average).
            pairs += [("bn_eps", self.py(a["eps"], view, stmt)), ("bn_momentum", self.py(a["momentum"], view, stmt)),
                      ("scale", self.py(a["scale"]))]  # fmt: skip
        return [*pairs, ("activation", self._activation_name(a["act"]))]

    def _activation_name(self, act: ex.Expr) -> Py:
        keyword = ex.evaluate(act, {})
        return const("linear" if keyword == "linear" else ACTIVATIONS[keyword].keras)

    def _linear(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        a = stmt.node.args
        extra = kwargs([("use_bias", self.py(a["bias"])), *self._norm_act(stmt, view)], _DENSE_DEFAULTS)
        helper = any(k.startswith(("bn=", "activation=", "init=", "l2=", "bias_l2=")) for k in extra)
        if helper:
            self.helpers.add("dense_norm_act")
        return {"helper": helper, "args": [self.py(a["out"], view, stmt), *extra]}

    def _pool(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        a, kind = stmt.node.args, stmt.node.op[:3]
        kernel, stride = self.window(a["kernel"], view, stmt), self.window(a["stride"], view, stmt)
        pad, ceil, count_pad = _constant(a["pad"]), _constant(a["ceil"]), _constant(a["count_pad"])
        cls = "MaxPooling2D" if kind == "max" else "AveragePooling2D"
        if pad == "valid" and (not ceil or _pair(stride.value) == (1, 1)):
            return {"helper": False, "cls": cls, "args": [kernel, f"strides={stride}"]}
        odd = kernel.known and all(k % 2 for k in _pair(kernel.value) or (0,))
        symmetric = _pair(stride.value) == (1, 1) and odd
        # Keras' own "same" is the spec's; Keras' torch backend pads average pooling symmetrically,
        # so an average over asymmetric "same" padding is built from explicit, masked layers.
        if pad == "same" and (kind == "max" or (symmetric and not count_pad)):
            return {"helper": False, "cls": cls, "args": [kernel, f"strides={stride}", 'padding="same"']}
        self.helpers |= {"pool2d", "explicit_padding", "Pad2D", "MaskedAveragePooling2D"}
        extra = kwargs(
            [("padding", self.py(a["pad"], view, stmt)), ("ceil_mode", const(bool(ceil))),
             ("count_pad", const(bool(count_pad)))],
            {"padding": "valid", "ceil_mode": False, "count_pad": False},
        )  # fmt: skip
        return {"helper": True, "args": [repr(kind), kernel, stride, *extra]}

    def _flatten(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        # PyTorch flattens (C, H, W), Keras (H, W, C): a feature map is permuted first.
        ranks = {len(info.in_shape) for info in self.instances.get(id(stmt.node), ())}
        return {"input": "map" if ranks == {3} else "flat" if ranks == {1} else "either"}

    def _dropout(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        return {"rate": self.py(stmt.node.args["rate"], view, stmt)}

    def _activation(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        return {"act": ACTIVATIONS[stmt.node.op].keras}

    def _leaky_relu(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        return {"slope": self.py(stmt.node.args["slope"], view, stmt)}

    def _global_pool(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        return {"keepdims": ex.evaluate(stmt.node.args["keepdims"], {})}

    def _bn(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        a = stmt.node.args
        extra = kwargs(
            [("epsilon", self.py(a["eps"], view, stmt)), ("momentum", self.py(a["momentum"], view, stmt)),
             ("scale", self.py(a["scale"])), ("center", self.py(a["center"]))],
            {"scale": True, "center": True},
        )  # fmt: skip
        return {"args": extra}

    def _layernorm(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        return {"eps": self.py(stmt.node.args["eps"], view, stmt)}

    def _layerscale(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        self.helpers.add("LayerScale")
        return {"value": self.py(stmt.node.args["value"], view, stmt)}

    def _rescale(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        a = stmt.node.args
        offset = self.py(a["offset"], view, stmt)
        return {"args": [self.py(a["factor"], view, stmt), *([] if offset.is_(0.0) else [f"offset={offset}"])]}

    def _normalize(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        a = stmt.node.args
        if _constant(a["mean"]) == "none":  # weights to set (both or neither, the checker says)
            return {"args": ["axis=-1"]}
        values = {key: self.py(a[key], view, stmt) for key in ("mean", "variance")}
        shapes = {key: _shape_of(_constant(a[key])) for key in values}
        if None in shapes.values() or shapes["mean"] != shapes["variance"]:
            # one value for every channel and a list, or a value the spec computes: Keras wants both of
            # one shape, so each goes in as one value per channel
            per_channel = f"{stmt.inp}.shape[-1:]"
            values = {k: Py(f"np.broadcast_to({v.code}, {per_channel})") for k, v in values.items()}
            self.helpers.add("numpy")
        return {"args": ["axis=-1", *(f"{key}={value}" for key, value in values.items())]}

    def _slice(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        self.helpers.add("ChannelSlice")
        a = stmt.node.args
        stop = "None" if _constant(a["end"]) == "none" else self.py(a["end"], view, stmt)
        return {"start": self.py(a["start"], view, stmt), "stop": stop}

    def _shuffle(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        self.helpers.add("channel_shuffle")
        return {"groups": self.py(stmt.node.args["groups"], view, stmt)}

    def _zeropad(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        pad = self.py(stmt.node.args["pad"], view, stmt)
        if pad.known:
            return {"pads": const(_explicit(pad.value))}
        self.helpers.add("explicit_padding")
        return {"pads": Py(f"explicit_padding({pad})")}

    def _lrn(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        self.helpers.add("LocalResponseNorm")
        a = stmt.node.args
        return {"args": [self.py(a[key], view, stmt) for key in ("size", "alpha", "beta", "offset")]}

    def _droppath(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        self.helpers.add("DropPath")
        return {"rate": self.py(stmt.node.args["rate"], view, stmt)}

    def _nothing(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        return {}

    # ------------------------------------------------------------------ structure
    def _call(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        call: ir.Call = stmt.node  # type: ignore[assignment]
        callee = self.block_views[call.block]
        args = [f"{py}={self.py(call.args[spec], view, stmt)}" for spec, py, _ in callee.params]
        return {"func": callee.func_name, "args": args}

    def _repeat(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        node: ir.Repeat = stmt.node  # type: ignore[assignment]
        values: dict[str, object] = {"count": self.py(node.count, view)}
        call = node.single_call
        if call is not None:
            callee = self.block_views[call.block]
            args = [f"{py}={self.py(call.args[spec], view, stmt)}" for spec, py, _ in callee.params]
            return values | {"func": callee.func_name, "args": args}
        scope = stmt.scope
        assert scope is not None
        args = [f"{py}={stmt.loop if spec == node.index else view.names[spec]}" for spec, py, _ in scope.params]
        return values | {"func": scope.func_name, "args": args}

    def _residual(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        scale = self.py(stmt.node.scale, view, stmt)  # type: ignore[union-attr]
        return {"scale": scale, "unit": scale.known and scale.value == 1}

    def _if(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        return {"cond": self.py(stmt.node.cond, view, stmt)}  # type: ignore[union-attr]

    HANDLERS: ClassVar[dict[type | str, Callable[..., dict[str, object]]]] = {
        "conv": _conv,
        "dwconv": _conv,
        "sepconv": _conv,
        "linear": _linear,
        "maxpool": _pool,
        "avgpool": _pool,
        "global_avgpool": _global_pool,
        "global_maxpool": _global_pool,
        "dropout": _dropout,
        "flatten": _flatten,
        "identity": _nothing,
        **dict.fromkeys(ACTIVATIONS, _activation),
        "leaky_relu": _leaky_relu,
        "softmax": _nothing,
        "droppath": _droppath,
        "bn": _bn,
        "layernorm": _layernorm,
        "layerscale": _layerscale,
        "rescale": _rescale,
        "normalize": _normalize,
        "slice": _slice,
        "shuffle": _shuffle,
        "zeropad": _zeropad,
        "lrn": _lrn,
        ir.Call: _call,
        ir.Repeat: _repeat,
        ir.Concat: _nothing,
        ir.Residual: _residual,
        ir.Gate: _nothing,
        ir.If: _if,
    }
