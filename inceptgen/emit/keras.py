"""The Keras emitter: one functional builder per scope, channels-last, standard layers only.

Layer names are the IR paths, so a PyTorch state dict maps onto the Keras weights
by name. Where Keras' defaults differ from the spec's meaning (see GUIDE section 2)
the values prepared here choose the layers that compute it exactly: native
`padding="same"` only where TensorFlow's rule *is* the spec's padding, explicit
zero / -inf padding layers elsewhere, a channels-first permute before `Flatten`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator

from inceptgen import ir
from inceptgen.check import NodeInfo
from inceptgen.emit.base import ScopeView, Stmt, constant
from inceptgen.emit.render import Emitter
from inceptgen.errors import UnsupportedError
from inceptgen.names import Namespace

__all__ = ["KerasEmitter"]

Pads = tuple[tuple[int, int], tuple[int, int]]  # ((top, bottom), (left, right))


class KerasEmitter(Emitter):
    target = "keras"

    def template_values(self) -> dict[str, object]:
        self.helpers: set[str] = set()
        self.instances = _instances_by_node(self.checked.nodes)
        for view in self.views:
            self._prepare(view.stmts, view)
        stages = [v for v in self.views if v.kind in ("stage", "head")]
        auxes = [v for v in self.views if v.kind == "aux"]
        return {
            "header": self.header(),
            "views": self.views,
            "stages": stages,
            "auxes": self._aux_outputs(auxes, stages),
            "model_name": self.model.name,
            "params": self.model_params(),
            "helpers": self.helpers,
            "needs_math": any("math." in str(s.values) for v in self.views for s in _flat(v.stmts)),
            "signature": self._signature,
            "stage_args": lambda view: [f"{py}={py}" for _, py, _ in view.params],
            "stage_shape": lambda name: _channels_last(self.checked.node(name).out_shape),
            "channels_last": _comment_channels_last,
        }

    # ------------------------------------------------------------------ scopes
    def _signature(self, view: ScopeView) -> str:
        """`x, c1: int, scale: float = 0.17, *, name: str` for a builder function."""
        params = ["x"]
        for spec, _, default in view.params:
            py = view.names[spec]  # a repeat body takes the enclosing scope's names
            kind = self.annotation(default) if view.kind == "block" else type(self.checked.env.get(spec, 0)).__name__
            params.append(f"{py}: {kind}" + ("" if default is None else f" = {self.value(default, view)}"))
        if view.kind == "repeat" and view.uses_in_channels:
            params.append("in_channels: int")
        return ", ".join([*params, "*", "name: str"])

    def _aux_outputs(self, auxes: list[ScopeView], stages: list[ScopeView]) -> list[tuple[ScopeView, str, str]]:
        """(aux view, stage it reads, output variable) in the model's aux order."""
        space = Namespace({"x", "inputs", "outputs", "aux_outputs", *self.param_names.values(), *(v.func_name for v in self.views)})
        after = {a.name: a.after for a in self.model.auxes}
        return [(view, after[view.spec_name], space.name(f"{view.spec_name}_out")) for view in auxes]

    # ------------------------------------------------------------------ statements
    def _prepare(self, stmts: list[Stmt], view: ScopeView) -> None:
        for stmt in stmts:
            handler = self._HANDLERS.get(type(stmt.node))
            if handler is not None:
                stmt.values.update(handler(self, stmt, view))
            for branch in stmt.branches:
                self._prepare(branch, view)
            self._prepare(stmt.body, view)

    def _conv(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        node: ir.Conv = stmt.node  # type: ignore[assignment]
        self.helpers.add("conv_norm_act")
        kernel, stride, dilation = (_pair(constant(e)) for e in (node.kernel, node.stride, node.dilation))
        pads = _explicit_pads(node)
        values = {
            "filters": self.value(node.out, view),
            "kernel": self.window_value(node.kernel, view),
            "strides": self.window_value(node.stride, view),
            "padding": _conv_padding(pads, kernel, stride, dilation),
            "dilation": self.window_value(node.dilation, view),
            "groups": self.value(node.groups, view),
            "bias": node.bias,
            "act": node.act,
            "subsample": "",
            **self._bn(node.bn, view),
        }
        if stride and dilation and max(stride) > 1 and max(dilation) > 1:
            # Keras refuses strides > 1 with dilation > 1: convolve at stride 1 with the padding
            # the strided conv would use, then keep every stride-th cell (a 1x1 max pool).
            if pads == "same":
                self.helpers.add("window_padding")
                values["padding"] = f'window_padding({stmt.inp}.shape[1:3], {values["kernel"]}, {values["strides"]}, "same", {values["dilation"]})'
            values.update(subsample=values["strides"], strides="1")
        return values

    def _bn(self, bn: ir.BatchNorm | None, view: ScopeView) -> dict[str, object]:
        if bn is None:
            return {"bn": None, "scale": True}
        # The spec's momentum is already Keras' (the weight of the old running average).
        return {"bn": f"({self.value(bn.eps, view)}, {self.value(bn.momentum, view)})", "scale": bn.scale}

    def _linear(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        node: ir.Linear = stmt.node  # type: ignore[assignment]
        if node.bn or node.act:
            self.helpers.add("dense_norm_act")
        return {"units": self.value(node.out, view), "bias": node.bias, "act": node.act, **self._bn(node.bn, view)}

    def _pool(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        node: ir.Pool = stmt.node  # type: ignore[assignment]
        kernel, stride = _pair(constant(node.kernel)), _pair(constant(node.stride))
        plan = _pool_plan(node, _explicit_pads(node), kernel, stride)
        values = {"kernel": self.window_value(node.kernel, view), "strides": self.window_value(node.stride, view), **plan}
        if plan["pads"] == "window":
            self.helpers.add("window_padding")
            pads = "same" if node.pad_value == "same" else _explicit_pads(node)  # type: ignore[attr-defined]
            values["pads"] = f"window_padding({stmt.inp}.shape[1:3], {values['kernel']}, {values['strides']}, {pads!r}, ceil_mode={node.ceil})"
        if plan["layer"] in ("Pad2D", "MaskedAveragePooling2D"):
            self.helpers.add(str(plan["layer"]))
        return values

    def _flatten(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        # PyTorch flattens (C, H, W), Keras (H, W, C): a feature map is permuted first.
        ranks = {len(info.in_shape) for info in self.instances.get(id(stmt.node), ())}
        return {"input": "map" if ranks == {3} else "flat" if ranks == {1} else "either"}

    def _residual(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        node: ir.Residual = stmt.node  # type: ignore[assignment]
        scale = constant(node.scale)
        return {"scale": "" if scale == 1 else self.value(node.scale, view)}

    def _call(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        call: ir.Call = stmt.node  # type: ignore[assignment]
        callee = next(v for v in self.views if v.kind == "block" and v.spec_name == call.block)
        values = dict(call.args)
        return {"func": callee.func_name, "args": [f"{py}={self.value(values[spec], view)}" for spec, py, _ in callee.params]}

    def _repeat(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        node: ir.Repeat = stmt.node  # type: ignore[assignment]
        values = {"count": self.value(node.count, view)}
        if node.single_call is not None:
            return values | self._call(Stmt(node.single_call, stmt.inp, stmt.out), view)
        scope = stmt.scope
        assert scope is not None
        args = [f"{scope.names[spec]}={view.names[spec]}" for spec, _, _ in scope.params]
        if scope.uses_in_channels:
            # `in.channels` is the enclosing block's input, not the input of each copy.
            args.append("in_channels=in_channels")
        return values | {"func": scope.func_name, "args": args}

    def _dropout(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        return {"rate": self.value(stmt.node.rate, view)}  # type: ignore[union-attr]

    _HANDLERS: dict[type, Callable[[KerasEmitter, Stmt, ScopeView], dict[str, object]]] = {
        ir.Conv: _conv,
        ir.Linear: _linear,
        ir.Pool: _pool,
        ir.Flatten: _flatten,
        ir.Residual: _residual,
        ir.Call: _call,
        ir.Repeat: _repeat,
        ir.Dropout: _dropout,
    }


# ---------------------------------------------------------------------- padding
def _pair(value: object) -> tuple[int, int] | None:
    """A constant kernel, stride or dilation as (h, w); None when it depends on parameters."""
    if isinstance(value, int):
        return value, value
    return value if isinstance(value, tuple) and len(value) == 2 else None  # type: ignore[return-value]


def _explicit_pads(node: ir.Conv | ir.Pool) -> Pads | str:
    """The spec's `pad` as "same", or ((top, bottom), (left, right)) ("valid" is all zeros)."""
    pad = constant(node.pad)
    if pad is None:
        raise UnsupportedError("padding must be a constant (same, valid, N, HxW or TxBxLxR)", node.pad.span or node.span)
    if pad == "same":
        return "same"
    if pad == "valid":
        return (0, 0), (0, 0)
    if isinstance(pad, int):
        return (pad, pad), (pad, pad)
    if len(pad) == 2:  # type: ignore[arg-type]
        return (pad[0], pad[0]), (pad[1], pad[1])  # type: ignore[index]
    top, bottom, left, right = pad  # type: ignore[misc]
    return (top, bottom), (left, right)


def _is_same(pads: Pads, kernel: tuple[int, int] | None, stride: tuple[int, int] | None, dilation: tuple[int, int] | None) -> bool:
    """Whether explicit pads equal TensorFlow's "same" for every input size.

    That holds at stride 1 only: "same" then pads (k - 1) * d in total, the odd cell
    at the bottom/right, whatever the input size.
    """
    if kernel is None or stride != (1, 1) or dilation is None:
        return False
    totals = [(k - 1) * d for k, d in zip(kernel, dilation)]
    return all(pair == (t // 2, t - t // 2) for pair, t in zip(pads, totals))


def _conv_padding(pads: Pads | str, kernel, stride, dilation) -> str:
    if pads == "same" or _is_same(pads, kernel, stride, dilation):  # type: ignore[arg-type]
        return '"same"'
    if pads == ((0, 0), (0, 0)):
        return '"valid"'
    return repr(pads)


def _pool_plan(node: ir.Pool, pads: Pads | str, kernel, stride) -> dict[str, object]:
    """How to realise a pooling layer exactly: padding layer (if any), pooling layer and its padding.

    `pads` in the plan is "" (none), a static ((t, b), (l, r)) literal, or "window" (worked
    out at build time from the input size: TensorFlow's "same", PyTorch's ceil mode).
    """
    pool = "MaxPooling2D" if node.kind == "max" else "AveragePooling2D"
    fill = "-math.inf" if node.kind == "max" else "0.0"
    pad_layer = "Pad2D" if node.kind == "max" else "ZeroPadding2D"
    counted = node.kind == "avg" and node.count_pad
    no_extra = not node.ceil or stride == (1, 1)  # ceil mode adds cells only at stride > 1
    if pads == "same" or (no_extra and _is_same(pads, kernel, stride, (1, 1))):  # type: ignore[arg-type]
        if not counted:  # TensorFlow's "same" pads max with -inf and leaves pads out of averages
            return {"pads": "", "pad_layer": "", "layer": pool, "padding": '"same"', "fill": fill}
        static = None if pads == "same" and not _is_same(_same_pads(kernel), kernel, stride, (1, 1)) else _same_pads(kernel)
        node.__dict__.setdefault("pad_value", "same")  # noqa: B010 - read back by _pool
        return {"pads": repr(static) if static else "window", "pad_layer": pad_layer, "layer": pool, "padding": '"valid"', "fill": fill}
    node.__dict__.setdefault("pad_value", "explicit")
    if pads == ((0, 0), (0, 0)) and no_extra:
        return {"pads": "", "pad_layer": "", "layer": pool, "padding": '"valid"', "fill": fill}
    if node.kind == "avg" and not counted:
        return {"pads": repr(pads), "pad_layer": "", "layer": "MaskedAveragePooling2D", "padding": '"valid"', "fill": fill}
    return {"pads": repr(pads) if no_extra else "window", "pad_layer": pad_layer, "layer": pool, "padding": '"valid"', "fill": fill}
