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
from dataclasses import dataclass

from inceptgen import ir
from inceptgen.check import NodeInfo
from inceptgen.emit.base import ScopeView, Stmt, constant
from inceptgen.emit.render import Emitter
from inceptgen.errors import UnsupportedError
from inceptgen.names import Namespace

__all__ = ["KerasEmitter"]

Pair = tuple[int, int]  # (height, width)
Pads = tuple[Pair, Pair]  # ((top, bottom), (left, right))


class KerasEmitter(Emitter):
    target = "keras"

    def template_values(self) -> dict[str, object]:
        self.helpers: set[str] = set()
        self.instances = _instances_by_node(self.checked.nodes)
        self.param_types = self._param_types()
        for view in reversed(self.views):  # owners first: a repeat body takes its owner's types
            self._prepare(view.stmts, view)
        stages = [v for v in self.views if v.kind in ("stage", "head")]
        auxes = [v for v in self.views if v.kind == "aux"]
        return {
            "header": self.header(),
            "views": self.views,
            "stages": stages,
            "auxes": self._aux_outputs(auxes),
            "model_name": self.model.name,
            "params": self.model_params(),
            "helpers": self.helpers,
            "needs_math": self._needs_math(),
            "signature": self._signature,
            "stage_args": lambda view: [f"{py}={py}" for _, py, _ in view.params],
            "stage_shape": lambda name: _channels_last(self.checked.node(name).out_shape),
        }

    def _needs_math(self) -> bool:
        """`math` serves round() in expressions and the -inf padding before max pooling."""
        in_values = any("math." in str(s.values) for v in self.views for s in _flat(v.stmts))
        return in_values or "Pad2D" in self.helpers

    # ------------------------------------------------------------------ scopes
    def _param_types(self) -> dict[str, dict[str, str]]:
        """Builder function -> its parameters' annotations (repeat bodies are added by `_repeat`)."""
        model_types = {p["name"]: p["annotation"] for p in self.model_params()}
        types: dict[str, dict[str, str]] = {}
        for view in self.views:
            if view.kind == "block":
                types[view.func_name] = {spec: self.annotation(default) for spec, _, default in view.params}
            elif view.kind != "repeat":
                types[view.func_name] = {spec: model_types[py] for spec, py, _ in view.params}
        return types

    def _signature(self, view: ScopeView) -> str:
        """`x, c1: int, scale: float = 0.17, *, name: str` for a builder function."""
        params = ["x"]
        for spec, _, default in view.params:
            py = view.names[spec]  # a repeat body takes the enclosing scope's names
            kind = self.param_types[view.func_name][spec]
            params.append(f"{py}: {kind}" + ("" if default is None else f" = {self.value(default, view)}"))
        if view.kind == "repeat" and view.uses_in_channels:
            params.append("in_channels: int")
        return ", ".join([*params, "*", "name: str"])

    def _aux_outputs(self, auxes: list[ScopeView]) -> list[tuple[ScopeView, str, str]]:
        """(aux view, stage it reads, output variable) in the model's aux order."""
        locals_ = {"x", "inputs", "outputs", "aux_outputs", *self.param_names.values()}
        space = Namespace(locals_ | {v.func_name for v in self.views})
        after = {a.name: a.after for a in self.model.auxes}
        return [(view, after[view.spec_name], space.name(f"{view.spec_name}_out")) for view in auxes]

    # ------------------------------------------------------------------ statements
    def _prepare(self, stmts: list[Stmt], view: ScopeView) -> None:
        for stmt in stmts:
            stmt.values["shape"] = f"  # {_comment_channels_last(stmt.comment)}" if stmt.comment else ""
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
            "window": "",
            **self._bn(node.bn, view),
        }
        if stride and dilation and max(stride) > 1 and max(dilation) > 1:
            # Keras refuses strides > 1 with dilation > 1: convolve at stride 1 with the padding
            # the strided conv would use (worked out at build time for "same"), then keep every
            # stride-th cell. Batch-norm and activation act per cell, so the order is free.
            values.update(subsample=values["strides"], strides="1", window='"same"' if pads == "same" else "")
            if pads == "same":
                self.helpers.add("window_padding")
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
        plan = _pool_plan(node, _explicit_pads(node), _pair(constant(node.kernel)), _pair(constant(node.stride)))
        if plan.window is not None:
            self.helpers.add("window_padding")
        self.helpers.update(h for h in (plan.layer, plan.pad_layer) if h in ("Pad2D", "MaskedAveragePooling2D"))
        return {
            "kernel": self.window_value(node.kernel, view),
            "strides": self.window_value(node.stride, view),
            "layer": plan.layer,
            "padding": plan.padding,
            "pad_layer": plan.pad_layer,
            "pads": "" if plan.pads is None else repr(plan.pads),
            "window": "" if plan.window is None else repr(plan.window),
        }

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
        args = [f"{py}={self.value(values[spec], view)}" for spec, py, _ in callee.params]
        return {"func": callee.func_name, "args": args}

    def _repeat(self, stmt: Stmt, view: ScopeView) -> dict[str, object]:
        node: ir.Repeat = stmt.node  # type: ignore[assignment]
        values = {"count": self.value(node.count, view)}
        if node.single_call is not None:
            return values | self._call(Stmt(node.single_call, stmt.inp, stmt.out), view)
        scope = stmt.scope
        assert scope is not None
        args = [f"{scope.names[spec]}={view.names[spec]}" for spec, _, _ in scope.params]
        owner_types = self.param_types[view.func_name]
        self.param_types[scope.func_name] = {spec: owner_types.get(spec, "int") for spec, _, _ in scope.params}
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
def _pair(value: object) -> Pair | None:
    """A constant kernel, stride or dilation as (h, w); None when it depends on parameters."""
    if isinstance(value, int):
        return value, value
    return value if isinstance(value, tuple) and len(value) == 2 else None  # type: ignore[return-value]


def _explicit_pads(node: ir.Conv | ir.Pool) -> Pads | str:
    """The spec's `pad` as "same", or ((top, bottom), (left, right)) ("valid" is all zeros)."""
    pad = constant(node.pad)
    if pad is None:
        span = node.pad.span or node.span
        raise UnsupportedError("padding must be a constant (same, valid, N, HxW or TxBxLxR)", span)
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


def _is_same(pads: Pads, kernel: Pair | None, stride: Pair | None, dilation: Pair | None) -> bool:
    """Whether explicit pads equal TensorFlow's "same" for every input size.

    That holds at stride 1 only: "same" then pads (k - 1) * d in total, the odd cell
    at the bottom/right, whatever the input size.
    """
    if kernel is None or stride != (1, 1) or dilation is None:
        return False
    totals = [(k - 1) * d for k, d in zip(kernel, dilation, strict=True)]
    return all(pair == (t // 2, t - t // 2) for pair, t in zip(pads, totals, strict=True))


def _same_pads(kernel: Pair) -> Pads:
    """TensorFlow's "same" padding at stride 1 (independent of the input size)."""
    return ((kernel[0] - 1) // 2, kernel[0] // 2), ((kernel[1] - 1) // 2, kernel[1] // 2)


def _conv_padding(pads: Pads | str, kernel: Pair | None, stride: Pair | None, dilation: Pair | None) -> str:
    """The `padding` argument of `conv_norm_act`: '"same"', '"valid"' or explicit pads."""
    if pads == "same" or _is_same(pads, kernel, stride, dilation):  # type: ignore[arg-type]
        return '"same"'
    if pads == ((0, 0), (0, 0)):
        return '"valid"'
    return repr(pads)


@dataclass(frozen=True)
class _PoolPlan:
    """Layers that compute one spec pooling exactly.

    Attributes:
        layer: MaxPooling2D, AveragePooling2D or MaskedAveragePooling2D (averages over real cells only).
        padding: the pooling layer's own padding, '"same"' or '"valid"'.
        pad_layer: ZeroPadding2D or Pad2D (-inf) before it, or "" for none.
        pads: static ((top, bottom), (left, right)) of the padding / masked layer.
        window: instead of `pads`, work them out at build time from the input size:
            "same" (TensorFlow's rule at stride > 1) or explicit pads plus ceil mode's extra cells.
    """

    layer: str
    padding: str = '"valid"'
    pad_layer: str = ""
    pads: Pads | None = None
    window: Pads | str | None = None


def _pool_plan(node: ir.Pool, pads: Pads | str, kernel: Pair | None, stride: Pair | None) -> _PoolPlan:
    pool = "MaxPooling2D" if node.kind == "max" else "AveragePooling2D"
    pad_layer = "Pad2D" if node.kind == "max" else "ZeroPadding2D"
    counted = node.kind == "avg" and node.count_pad
    stride_one = stride == (1, 1)  # ceil mode reads no extra cells at stride 1
    if pads == "same" or (stride_one and _is_same(pads, kernel, stride, (1, 1))):  # type: ignore[arg-type]
        if not counted:  # TensorFlow's "same" pads max pooling with -inf, leaves pads out of averages
            return _PoolPlan(pool, '"same"')
        if stride_one and kernel is not None:
            return _PoolPlan(pool, pad_layer=pad_layer, pads=_same_pads(kernel))
        return _PoolPlan(pool, pad_layer=pad_layer, window="same")
    if pads == ((0, 0), (0, 0)) and (not node.ceil or stride_one):
        return _PoolPlan(pool)
    if node.kind == "avg" and not counted:  # (the checker refuses ceil mode for averages)
        return _PoolPlan("MaskedAveragePooling2D", pads=pads)  # type: ignore[arg-type]
    if node.ceil and not stride_one:
        return _PoolPlan(pool, pad_layer=pad_layer, window=pads)
    return _PoolPlan(pool, pad_layer=pad_layer, pads=pads)  # type: ignore[arg-type]


def _channels_last(shape: tuple[int, ...]) -> str:
    """A checker shape (C, H, W) as Keras prints it, H x W x C; (F,) stays."""
    dims = (*shape[1:], shape[0]) if len(shape) == 3 else shape
    return " x ".join(map(str, dims))


def _comment_channels_last(comment: str) -> str:
    return _channels_last(tuple(comment.split(" x "))) if comment else ""


def _instances_by_node(nodes: tuple[NodeInfo, ...]) -> dict[int, list[NodeInfo]]:
    """Every checked instance of each IR node, keyed by the node's identity."""
    found: dict[int, list[NodeInfo]] = defaultdict(list)
    for info in nodes:
        found[id(info.node)].append(info)
    return found


def _flat(stmts: list[Stmt]) -> Iterator[Stmt]:
    for stmt in stmts:
        yield stmt
        for branch in stmt.branches:
            yield from _flat(branch)
        yield from _flat(stmt.body)
