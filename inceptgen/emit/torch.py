"""The PyTorch emitter: one `nn.Module` per scope, channels-first.

Each handler below puts typed values on one statement and returns its output
channels as an expression (None where only the data can tell: after a flatten).
`templates/torch/ops.py.j2` holds the code each kind of statement becomes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar

from inceptgen import expr as ex
from inceptgen import ir
from inceptgen.emit.base import Emitter
from inceptgen.emit.render import environment
from inceptgen.emit.scopes import ScopeView, Stmt, model_class_name, walk_stmts
from inceptgen.emit.torch_optimize import fuse_siblings
from inceptgen.emit.values import Py, const, kwargs
from inceptgen.errors import UnsupportedError
from inceptgen.ops import ACTIVATIONS

__all__ = ["TorchEmitter"]

Channels = ex.Expr | None  # None: unknown until the data flows (after a flatten)

#: ConvNormAct's defaults when no conv of the model says otherwise.
_CONV_DEFAULTS: dict[str, object] = {
    "stride": 1, "padding": "same", "dilation": 1, "groups": 1, "separable": False, "bias": True, "bn": False,
    "bn_eps": 1e-3, "bn_momentum": 0.01, "bn_scale": True, "act": "linear",
    "init": "default", "init_std": 0.02, "l2": 0.0, "bias_l2": 0.0,
}  # fmt: skip
_LINEAR_DEFAULTS: dict[str, object] = {
    "bias": True, "bn": False, "bn_eps": 1e-5, "bn_momentum": 0.1, "bn_scale": True, "act": "linear",
    "init": "default", "init_std": 0.02, "l2": 0.0, "bias_l2": 0.0,
}  # fmt: skip
_IN = ex.Ref("@in")  # the channels entering the scope: `in_channels`


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


class TorchEmitter(Emitter):
    target = "torch"

    def template_values(self) -> dict[str, object]:
        self.helpers: set[str] = set()
        self.lazy = False
        self.lazy_inputs: set[str] = set()  # class names of blocks some call feeds a flat input of unknown width
        self.block_views = {v.spec_name: v for v in self.views if v.kind == "block"}
        for _ in range(3):  # a block fed an unknown width is prepared again, lazily
            before = set(self.lazy_inputs)
            for view in reversed(self.views):  # owners first: a repeat body takes its owner's types
                start = None if view.class_name in self.lazy_inputs else _IN
                view.values["out_channels"] = self.channels(self.prepare_body(view.stmts, start, view), view)
            parts = self._parts()
            if self.lazy_inputs == before:
                break
        conv = self._conv_defaults()
        for view in self.views:
            view.values["signature"] = self._signature(view)
            for stmt in walk_stmts(view.stmts):
                if "conv_kwargs" in stmt.values:
                    stmt.values["args"] = [*stmt.values["positional"], *kwargs(stmt.values["conv_kwargs"], conv)]
            for f in (f for stmt in walk_stmts(view.stmts) for f in stmt.values.get("fused", [])):
                f["args"] = [*f["positional"], *kwargs(f["conv_kwargs"], conv)]
        return {
            "header": self.header(),
            "views": self.views,
            "parts": [p for p in parts if not p["aux"]],
            "auxes": [p for p in parts if p["aux"]],
            "model_class": model_class_name(self.model),
            "params": self.model_params(),
            "helpers": self.helpers | {f for f in self.functions_used() if ex.FUNCTIONS[f].helper},
            "conv": {k: repr(v) for k, v in conv.items()},
            "activations": [ACTIVATIONS[a] for a in sorted(self._activations_used())],
            "optimize": self.optimize,
            "lazy": self.lazy,
            "needs_math": self.needs_math() or bool(self.helpers & {"Pool2d", "init"}),
            "body": self._body_renderer(),
        }

    # ------------------------------------------------------------------ rendering
    def _body_renderer(self) -> Callable[[list[Stmt], str], str]:
        """`body(stmts, "init" | "forward")` for the templates: each statement through its macro.

        The macros render nested bodies with the same function, so it is in their context.
        Every kind has a `_forward` macro (`handler` refused any other); `_init` is optional.
        """
        macros: Any = None

        def body(stmts: list[Stmt], part: str) -> str:
            out = []
            for stmt in stmts:
                if part == "init":
                    out += [f"        self.{attr} = {value}\n" for attr, value in stmt.values.get("stored", [])]
                macro = getattr(macros, f"{stmt.macro}_{part}", None)
                if macro is not None and "fused_into" not in stmt.values:
                    out.append(str(macro(stmt)))
            return "".join(out)

        macros = environment().get_template("torch/ops.py.j2").make_module({"body": body})
        return body

    def macro_name(self, stmt: Stmt) -> str:
        return f"{stmt.macro}_forward"

    # ------------------------------------------------------------------ channels
    def channels(self, ch: Channels, view: ScopeView) -> Py:
        """A channel expression as code inside `view`'s `__init__` (`None` when unknown)."""
        if ch is None:
            return Py("None")
        return self.py_in(ch, view)

    def py_in(self, e: ex.Expr, view: ScopeView, stmt: Stmt | None = None) -> Py:
        names = view.names_in(stmt) if stmt else view.names

        def name(n: str) -> str:
            if n == "@in":
                return "in_channels"
            if n.startswith("@@"):  # an attribute of the module itself (an if's condition)
                return f"self.{n[2:]}"
            return f"self.{n[1:]}.out_channels" if n.startswith("@") else names[n]

        return Py.of(e, name)

    def forward_value(self, stmt: Stmt, key: str, value: Py) -> Py:
        """A value `forward` reads: a constant as it is, else stored as an attribute by `__init__`.

        `forward` sees only the module's attributes, not `__init__`'s parameters.
        """
        if value.known:
            return value
        attr = f"{stmt.node.name}_{key}"
        stmt.values.setdefault("stored", []).append((attr, value))
        return Py(f"self.{attr}")

    def prepare_body(self, stmts: list[Stmt], ch: Channels, view: ScopeView) -> Channels:
        """Fill each statement's values; return the channels after them."""
        for stmt in stmts:
            stmt.values.clear()
            stmt.values["in_ch"] = self.channels(ch, view)
            ch = self.handler(stmt)(self, stmt, view, ch)
        return ch

    def _signature(self, view: ScopeView) -> list[str]:
        types = self._param_types(view)
        out = []
        for spec, py, default in view.params:
            annotation = types.get(spec, "int")
            out.append(f"{py}: {annotation}" + ("" if default is None else f" = {self.py(default)}"))
        return out

    def _param_types(self, view: ScopeView) -> dict[str, str]:
        model_types = {p.name: type(v).__name__ for p in self.model.params
                       if isinstance(v := self.checked.env[p.name], int | float | bool | str)}  # fmt: skip
        block_types = {p.name: self.annotation(p.default) for b in self.model.blocks.values() for p in b.params}
        own = {spec: self.annotation(default) for spec, _, default in view.params if default is not None}
        base = model_types if view.kind in ("stage", "head", "aux") else block_types
        return {**base, **own}

    # ------------------------------------------------------------------ layers
    def _conv(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        a = stmt.node.args
        self.helpers |= {"ConvNormAct", "spec_padding"}
        if self._needs_pad_same(a["pad"], a["stride"]):
            self.helpers.add("pad_same")
        out: Channels = a["out"]
        if stmt.kind == "dwconv" and _constant(out) == "none":
            out = ch  # as many channels as its input
        if stmt.kind == "sepconv":
            self.helpers.add("SeparableConv2d")
        stmt.values.update(
            positional=[stmt.values["in_ch"], self.channels(out, view), self.window(a["kernel"], view, stmt)],
            conv_kwargs=self._conv_kwargs(stmt, view),
            sources=(stmt.node.name,),
        )
        return out

    def _conv_kwargs(self, stmt: Stmt, view: ScopeView) -> list[tuple[str, Py]]:
        a = stmt.node.args
        pairs = [
            ("stride", self.window(a["stride"], view, stmt)),
            ("padding", self.py(a["pad"], view, stmt)),
            ("dilation", self.window(a["dilation"], view, stmt)),
        ]
        # Every conv states every argument, so that the helper's defaults are the most common values.
        groups = {"conv": lambda: self.py(a["groups"], view, stmt), "dwconv": lambda: stmt.values["in_ch"]}
        pairs += [("groups", groups.get(stmt.kind, lambda: const(1))()), ("separable", const(stmt.kind == "sepconv"))]
        if self.optimize:  # batch-norm is folded into the conv: a bias takes its place
            return [*pairs, ("bias", const(True)), ("bn", const(False)), ("act", self.py(a["act"]))]
        return [*pairs, ("bias", self.py(a["bias"])), *self._norm_act(stmt, view)]

    def _weights(self, stmt: Stmt, view: ScopeView) -> list[tuple[str, Py]]:
        """How the layer's weights start and are penalised (only what the model uses reaches its helpers)."""
        a = stmt.node.args
        init, l2, bias_l2 = self.py(a["init"]), self.py(a["l2"], view, stmt), self.py(a["bias_l2"], view, stmt)
        if not init.is_("default"):
            self.helpers.add("init")
        if not all(v.known and v.value == 0 for v in (l2, bias_l2)):
            self.helpers.add("l2")
        return [("init", init), ("init_std", self.py(a["std"], view, stmt)), ("l2", l2), ("bias_l2", bias_l2)]

    def _norm_act(self, stmt: Stmt, view: ScopeView) -> list[tuple[str, Py]]:
        a = stmt.node.args
        pairs = [*self._weights(stmt, view), ("bn", self.py(a["bn"]))]
        if ex.evaluate(a["bn"], {}):
            pairs += [
                ("bn_eps", self.py(a["eps"], view, stmt)),
                ("bn_momentum", _torch_momentum(self.py(a["momentum"], view, stmt, precedence=6))),
                ("bn_scale", self.py(a["scale"])),
            ]
        return [*pairs, ("act", self.py(a["act"]))]

    def _needs_pad_same(self, pad: ex.Expr, stride: ex.Expr) -> bool:
        """Whether TensorFlow's "same" must be worked out at run time (stride > 1, or not known)."""
        pad_value, stride_value = _constant(pad), _constant(stride)
        return pad_value is None or (pad_value == "same" and _pair(stride_value) != (1, 1))

    def _linear(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        a = stmt.node.args
        unknown = ch is None
        self.lazy |= unknown
        fused = [p for p in [("bias", self.py(a["bias"])), *self._norm_act(stmt, view)]]
        extra = kwargs(fused, _LINEAR_DEFAULTS)
        out = self.py(a["out"], view, stmt)
        if any(k.startswith(("bn=", "act=", "init=", "l2=", "bias_l2=")) for k in extra):
            self.helpers.add("LinearNormAct")
            stmt.values.update(cls="LinearNormAct", args=[stmt.values["in_ch"], out, *extra])
        else:
            cls = "nn.LazyLinear" if unknown else "nn.Linear"
            stmt.values.update(cls=cls, args=[*([] if unknown else [stmt.values["in_ch"]]), out, *extra])
        return a["out"]

    def _pool(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        a, kind = stmt.node.args, stmt.node.op[:3]
        kernel, stride = self.window(a["kernel"], view, stmt), self.window(a["stride"], view, stmt)
        pad, ceil, count_pad = _constant(a["pad"]), _constant(a["ceil"]), _constant(a["count_pad"])
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
        self.helpers |= {"Pool2d", "spec_padding"}
        if self._needs_pad_same(a["pad"], a["stride"]):
            self.helpers.add("pad_same")
        extra = kwargs(
            [("padding", self.py(a["pad"], view, stmt)), ("ceil_mode", const(bool(ceil))),
             ("count_pad", const(bool(count_pad)))],
            {"padding": "valid", "ceil_mode": False, "count_pad": False},
        )  # fmt: skip
        stmt.values.update(cls="Pool2d", args=[repr(kind), kernel, stride, *extra])
        return ch

    def _same(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        return ch

    def _global_pool(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        stmt.values["keepdims"] = ex.evaluate(stmt.node.args["keepdims"], {})
        return ch

    def _dropout(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        stmt.values["rate"] = self.py(stmt.node.args["rate"], view, stmt)
        return ch

    def _flatten(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        return None  # C * H * W: the spatial size is the data's

    def _activation(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        stmt.values["call"] = ACTIVATIONS[stmt.node.op].torch_call
        return ch

    def _leaky_relu(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        stmt.values["slope"] = self.forward_value(stmt, "slope", self.py(stmt.node.args["slope"], view, stmt))
        return ch

    def rank(self, stmt: Stmt) -> int:
        """The rank of a statement's input (3: a map, 1: flat), the same in every instance."""
        ranks = {len(info.in_shape) for info in self.checked.nodes if info.node is stmt.node}
        if len(ranks) != 1:
            what = f"{stmt.kind} on both feature maps and flat vectors"
            raise UnsupportedError(f"the torch target cannot express {what} in one block", stmt.node.span)
        return ranks.pop()

    def _bn(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        a = stmt.node.args
        momentum = _torch_momentum(self.py(a["momentum"], view, stmt, precedence=6))
        cls = "nn.BatchNorm2d" if self.rank(stmt) == 3 else "nn.BatchNorm1d"
        width = [stmt.values["in_ch"]]
        if ch is None:  # after a flatten: sized by build_model's dry run
            cls, width, self.lazy = "nn.LazyBatchNorm1d", [], True
        stmt.values.update(
            cls=cls,
            args=[*width, self.py(a["eps"], view, stmt), momentum],
            frozen=[p for p, key in (("weight", "scale"), ("bias", "center")) if not ex.evaluate(a[key], {})],
        )
        return ch

    def known_width(self, stmt: Stmt, ch: Channels) -> None:
        """Refuse a per-channel layer on a flattened map: PyTorch needs its width when building."""
        if ch is None:
            raise UnsupportedError(
                f"the torch target cannot size {stmt.kind} right after a flatten; pool globally instead",
                stmt.node.span,
            )

    def _layernorm(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        self.known_width(stmt, ch)
        cls = "LayerNorm2d" if self.rank(stmt) == 3 else "nn.LayerNorm"
        if cls == "LayerNorm2d":
            self.helpers.add("LayerNorm2d")
        stmt.values.update(cls=cls, args=[stmt.values["in_ch"], f"eps={self.py(stmt.node.args['eps'], view, stmt)}"])
        return ch

    def _layerscale(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        self.known_width(stmt, ch)
        self.helpers.add("LayerScale")
        stmt.values["args"] = [stmt.values["in_ch"], self.py(stmt.node.args["value"], view, stmt)]
        return ch

    def _rescale(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        a = stmt.node.args
        offset = self.py(a["offset"], view, stmt)
        factor = self.py(a["factor"], view, stmt, precedence=7)
        stmt.values.update(
            factor=self.forward_value(stmt, "factor", factor), offset=self.forward_value(stmt, "offset", offset)
        )
        return ch

    def _normalize(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        self.known_width(stmt, ch)
        self.helpers.add("Normalize")
        a = stmt.node.args
        given = [f"{key}={self.py(a[key], view, stmt)}" for key in ("mean", "variance") if _constant(a[key]) != "none"]
        stmt.values["args"] = [stmt.values["in_ch"], *given]
        return ch

    def _slice(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        a = stmt.node.args
        start, end = self.py(a["start"], view, stmt), a["end"]
        stop = None if _constant(end) == "none" else self.py(end, view, stmt)
        start, stop = self.forward_value(stmt, "start", start), stop and self.forward_value(stmt, "stop", stop)
        stmt.values.update(start="" if start.is_(0) else start, stop="" if stop is None else stop)
        width = ch if stop is None else end
        return None if width is None else ex.BinOp("-", width, a["start"])

    def _shuffle(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        self.helpers.add("channel_shuffle")
        stmt.values["groups"] = self.forward_value(stmt, "groups", self.py(stmt.node.args["groups"], view, stmt))
        return ch

    def _zeropad(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        pad = self.py(stmt.node.args["pad"], view, stmt)
        if pad.known:
            (top, bottom), (left, right) = _explicit(pad.value)
            stmt.values["pads"] = const((left, right, top, bottom))
        else:
            self.helpers.add("torch_pads")
            stmt.values["pads"] = self.forward_value(stmt, "pads", Py(f"torch_pads({pad})"))
        return ch

    def _lrn(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        a = stmt.node.args
        stmt.values["args"] = [self.py(a[key], view, stmt) for key in ("size", "alpha", "beta", "offset")]
        return ch

    def _droppath(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        self.helpers.add("DropPath")
        stmt.values["rate"] = self.py(stmt.node.args["rate"], view, stmt)
        return ch

    # ------------------------------------------------------------------ structure
    def _callee_args(self, call: ir.Call, callee: ScopeView, view: ScopeView, stmt: Stmt) -> list[str]:
        return [f"{py}={self.py(call.args[spec], view, stmt)}" for spec, py, _ in callee.params]

    def _feed(self, callee: ScopeView, ch: Channels) -> None:
        if ch is None:
            self.lazy_inputs.add(callee.class_name)

    def _call(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        call: ir.Call = stmt.node  # type: ignore[assignment]
        callee = self.block_views[call.block]
        self._feed(callee, ch)
        stmt.values.update(
            cls=callee.class_name, args=[stmt.values["in_ch"], *self._callee_args(call, callee, view, stmt)]
        )
        return ex.Ref(f"@{call.name}")

    def _repeat(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        node: ir.Repeat = stmt.node  # type: ignore[assignment]
        self.helpers.add("Stack")
        call = node.single_call
        if call is not None:
            callee = self.block_views[call.block]
            args = self._callee_args(call, callee, view, stmt)
        else:
            assert stmt.scope is not None
            callee = stmt.scope
            args = [f"{py}={stmt.loop if spec == node.index else view.names[spec]}" for spec, py, _ in callee.params]
        self._feed(callee, ch)
        stmt.values.update(cls=callee.class_name, args=args, count=self.py(node.count, view))
        return ex.Ref(f"@{node.name}")

    def _concat(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        outs = [self.prepare_body(branch, ch, view) for branch in stmt.branches]
        stmt.values["fused"] = fuse_siblings(self, stmt) if self.optimize else []
        if any(o is None for o in outs):
            return None
        total = outs[0]
        for other in outs[1:]:
            total = ex.BinOp("+", total, other)  # type: ignore[arg-type]
        return total

    def _residual(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        node: ir.Residual = stmt.node  # type: ignore[assignment]
        out = self.prepare_body(stmt.bodies["body"], ch, view)
        self.prepare_body(stmt.bodies["shortcut"], ch, view)
        scale = self.py(node.scale, view, stmt, precedence=7)
        stmt.values.update(scale=self.forward_value(stmt, "scale", scale), unit=scale.known and scale.value == 1)
        return out

    def _gate(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        self.prepare_body(stmt.bodies["body"], ch, view)
        return ch

    def _if(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        node: ir.If = stmt.node  # type: ignore[assignment]
        then = self.prepare_body(stmt.bodies["then"], ch, view)
        otherwise = self.prepare_body(stmt.bodies["otherwise"], ch, view)
        stmt.values["cond"] = self.py(node.cond, view, stmt)
        if then == otherwise or then is None or otherwise is None:
            return then if then == otherwise else None
        return ex.IfElse(ex.Ref(f"@@{node.name}"), then, otherwise)

    HANDLERS: ClassVar[dict[type | str, Callable[..., Channels]]] = {
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
        "identity": _same,
        **dict.fromkeys(ACTIVATIONS, _activation),
        "leaky_relu": _leaky_relu,
        "softmax": _same,
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
        ir.Concat: _concat,
        ir.Residual: _residual,
        ir.Gate: _gate,
        ir.If: _if,
    }

    # ------------------------------------------------------------------ the model
    def _parts(self) -> list[dict[str, Any]]:
        """The model's stages, head and aux heads: class, constructor arguments, shape comment."""
        parts: list[dict[str, Any]] = []
        out_of: dict[str, tuple[str, bool]] = {}  # stage -> (its out_channels, known)
        ch, known = "input_shape[0]", True
        for scope in (*self.model.stages, *self.model.auxes):
            is_aux = isinstance(scope, ir.Aux)
            if is_aux:
                ch, known = out_of[scope.after]  # type: ignore[union-attr]
            view = self.scopes.parts[scope.name]
            if not known:
                self.lazy_inputs.add(view.class_name)
            args = [ch if known else "None", *self._part_args(scope.name, view)]
            parts.append({
                "name": scope.name, "cls": view.class_name, "args": args, "aux": is_aux,
                "after": getattr(scope, "after", None), "var": f"{scope.name}_out",
                "shape": " x ".join(map(str, self.checked.node(scope.name).out_shape)),
            })  # fmt: skip
            if not is_aux:
                known = view.values.get("out_channels", Py("")).code != "None"
                ch = f"self.{scope.name}.out_channels"
                out_of[scope.name] = (ch, known)
        return parts

    def _part_args(self, name: str, view: ScopeView) -> list[str]:
        call_args = self.scopes.part_args.get(name)
        if call_args is not None:  # the stage is one block use: its arguments, in build_model's names
            return [f"{py}={self.py(call_args[spec])}" for spec, py, _ in view.params]
        return [f"{py}={py}" for _, py, _ in view.params]

    def _conv_defaults(self) -> dict[str, object]:
        """ConvNormAct's defaults: for each argument, the value most of the model's convs use."""
        counts: dict[str, Counter] = {key: Counter() for key in _CONV_DEFAULTS}
        for view in self.views:
            for stmt in walk_stmts(view.stmts):
                pairs = [*stmt.values.get("conv_kwargs", [])]
                pairs += [p for f in stmt.values.get("fused", []) for p in f["conv_kwargs"]]
                for key, value in pairs:
                    if key in counts and value.known:
                        counts[key][repr(value.value)] += 1
        defaults = dict(_CONV_DEFAULTS)
        if self.optimize:
            defaults.update(bias=True, bn=False)
        for key, seen in counts.items():
            if seen and not (self.optimize and key in ("bias", "bn")):
                defaults[key] = _literal(seen.most_common(1)[0][0])
        return defaults

    def _activations_used(self) -> set[str]:
        used = set()
        for view in self.views:
            for stmt in walk_stmts(view.stmts):
                if isinstance(stmt.node, ir.Layer) and stmt.node.op in ("conv", "dwconv", "sepconv", "linear"):
                    used.add(ex.evaluate(stmt.node.args["act"], {}))
        return used - {"linear"}


def _constant(e: ex.Expr) -> Any:
    return None if ex.free_names(e) else ex.evaluate(e, {})


def _explicit(pad: object) -> tuple[tuple[int, int], tuple[int, int]]:
    """The spec's N, (H, W) or (top, bottom, left, right) as ((top, bottom), (left, right))."""
    if isinstance(pad, int):
        return (pad, pad), (pad, pad)
    if len(pad) == 2:  # type: ignore[arg-type]
        return (pad[0], pad[0]), (pad[1], pad[1])  # type: ignore[index]
    return (pad[0], pad[1]), (pad[2], pad[3])  # type: ignore[index]


def _literal(text: str) -> object:
    import ast

    return ast.literal_eval(text)


def _torch_momentum(keras: Py) -> Py:
    """The spec's momentum is Keras' (the weight of the old average); PyTorch's is its complement."""
    if keras.known:
        return const(round(1 - keras.value, 12))
    return Py(f"1 - {keras.code}")
