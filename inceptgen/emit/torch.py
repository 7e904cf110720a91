"""The PyTorch emitter: one `nn.Module` per scope, channels-first.

Each handler puts typed values on one statement and returns its output channels as an
expression (None where only the data can tell: after a flatten). The layers' handlers are
in `inceptgen.emit.torch_layers`, the structure's (calls, repeats, concats, residuals,
gates, ifs) below; `templates/torch/ops.py.j2` holds the code each kind of statement becomes.
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
from inceptgen.emit.torch_layers import LAYER_HANDLERS
from inceptgen.emit.torch_optimize import fuse_siblings
from inceptgen.emit.values import Py, kwargs
from inceptgen.ops import ACTIVATIONS

__all__ = ["TorchEmitter"]

Channels = ex.Expr | None  # None: unknown until the data flows (after a flatten)

#: ConvNormAct's defaults when no conv of the model says otherwise.
_CONV_DEFAULTS: dict[str, object] = {
    "stride": 1, "padding": "same", "dilation": 1, "groups": 1, "separable": False, "bias": True, "bn": False,
    "bn_eps": 1e-3, "bn_momentum": 0.01, "bn_scale": True, "act": "linear",
    "init": "default", "init_std": 0.02, "l2": 0.0, "bias_l2": 0.0,
}  # fmt: skip
_IN = ex.Ref("@in")  # the channels entering the scope: `in_channels`


class TorchEmitter(Emitter):
    target = "torch"

    def template_values(self) -> dict[str, object]:
        self.helpers: set[str] = set()
        self.lazy = False
        self.lazy_inputs: set[str] = set()  # class names of blocks some call feeds a flat input of unknown width
        self.block_views = {v.spec_name: v for v in self.views if v.kind == "block"}
        # A block fed an unknown width is prepared again, lazily, and one whose output width is
        # unknown (it ends in a flatten) makes its callers' unknown: repeat until neither set grows
        # (each pass can only add to them, so at most one pass per view).
        for _ in range(len(self.views) + 2):
            before = (set(self.lazy_inputs), self._unknown_outputs())
            for view in reversed(self.views):  # owners first: a repeat body takes its owner's types
                start = None if view.class_name in self.lazy_inputs else _IN
                view.values["out_channels"] = self.channels(self.prepare_body(view.stmts, start, view), view)
            parts = self._parts()
            if (self.lazy_inputs, self._unknown_outputs()) == before:
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

    # ------------------------------------------------------------------ structure
    def _callee_args(self, call: ir.Call, callee: ScopeView, view: ScopeView, stmt: Stmt) -> list[str]:
        return [f"{py}={self.py(call.args[spec], view, stmt)}" for spec, py, _ in callee.params]

    def _feed(self, callee: ScopeView, ch: Channels) -> None:
        if ch is None:
            self.lazy_inputs.add(callee.class_name)

    def _unknown_outputs(self) -> set[str]:
        """Class names of the views whose output width is unknown in `__init__` (after a flatten)."""
        return {v.class_name for v in self.views if v.values.get("out_channels", Py("")).code == "None"}

    def _out_of(self, callee: ScopeView, name: str) -> Channels:
        """The channels after a call: the callee's out_channels, unknown when the callee's is."""
        return None if callee.values.get("out_channels", Py("")).code == "None" else ex.Ref(f"@{name}")

    def _call(self, stmt: Stmt, view: ScopeView, ch: Channels) -> Channels:
        call: ir.Call = stmt.node  # type: ignore[assignment]
        callee = self.block_views[call.block]
        self._feed(callee, ch)
        stmt.values.update(
            cls=callee.class_name, args=[stmt.values["in_ch"], *self._callee_args(call, callee, view, stmt)]
        )
        return self._out_of(callee, call.name)

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
        count = self.py(node.count, view)
        stmt.values.update(cls=callee.class_name, args=args, count=count)
        if count.is_(0):  # left out: its input passes through, whatever the body would have made of it
            return ch
        return self._out_of(callee, node.name)

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
        **LAYER_HANDLERS,
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


def _literal(text: str) -> object:
    import ast

    return ast.literal_eval(text)
