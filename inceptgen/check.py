"""Shape inference: evaluate the IR for one set of parameter values.

Every node instance gets its path, input and output shape, parameter counts
(PyTorch's convention, the trainable subset, and what Keras' `count_params()`
reports) and multiply-accumulates. Emitters and the summary only read this.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from inceptgen import expr as ex
from inceptgen import ir
from inceptgen.errors import InceptgenError, Span, SpecArgumentError, SpecLimitError, SpecNameError, SpecShapeError
from inceptgen.limits import Limits

__all__ = ["Shape", "NodeInfo", "Checked", "check", "window", "model_env"]

Shape = tuple[int, ...]  # (C, H, W) for feature maps, (F,) after flatten / global pooling
Pads = tuple[int, int, int, int]  # top, bottom, left, right


@dataclass(frozen=True)
class NodeInfo:
    """One node instance of the built model.

    Attributes:
        path: dotted path, identical to the layer name in both generated programs.
        op: the operation (`conv`, `maxpool`, `concat`, `block:inception`, `stage`, ...).
        params: parameters of this node itself, PyTorch convention (0 for containers).
        trainable: the trainable part of `params`.
        keras_params: what Keras counts for this node (running statistics included).
        macs: multiply-accumulates of this node itself.
        values: the evaluated attributes of a layer (kernel, stride, pads, channels, ...).
    """

    path: str
    op: str
    node: object
    in_shape: Shape
    out_shape: Shape
    params: int = 0
    trainable: int = 0
    keras_params: int = 0
    macs: int = 0
    values: Mapping[str, object] = field(default_factory=dict)
    depth: int = 0

    @property
    def is_container(self) -> bool:
        return self.op.startswith(("block:", "stage", "aux", "concat", "residual", "repeat", "branch"))


@dataclass(frozen=True)
class Checked:
    """The checked model: the IR plus every node instance, in execution order."""

    model: ir.Model
    env: Mapping[str, ex.Value]
    nodes: tuple[NodeInfo, ...]
    outputs: Mapping[str, Shape]

    @property
    def input_shape(self) -> Shape:
        return tuple(self.env["input"])  # type: ignore[arg-type]

    @property
    def total_params(self) -> int:
        return sum(n.params for n in self.nodes)

    @property
    def trainable_params(self) -> int:
        return sum(n.trainable for n in self.nodes)

    @property
    def keras_params(self) -> int:
        return sum(n.keras_params for n in self.nodes)

    @property
    def macs(self) -> int:
        return sum(n.macs for n in self.nodes)

    def node(self, path: str) -> NodeInfo:
        return next(n for n in self.nodes if n.path == path)


def model_env(model: ir.Model, overrides: Mapping[str, ex.Value] | None = None) -> dict[str, ex.Value]:
    """Values of the model parameters: spec defaults, replaced by `overrides`."""
    overrides = dict(overrides or {})
    known = {p.name for p in model.params}
    for name in overrides:
        if name not in known:
            raise SpecNameError(f"the model has no parameter {name!r}", None, f"parameters: {', '.join(sorted(known))}")
    env: dict[str, ex.Value] = {}
    for p in model.params:
        if p.name in overrides:
            env[p.name] = overrides[p.name]
        elif p.default is not None:
            env[p.name] = ex.evaluate(p.default, env)
        else:
            raise SpecArgumentError(
                f"model parameter {p.name!r} has no default: give it with --set {p.name}=...", p.span
            )
    shape = env["input"]
    if not (isinstance(shape, tuple) and len(shape) == 3 and all(d > 0 for d in shape)):
        span = next(p.span for p in model.params if p.name == "input")
        raise SpecArgumentError(f"input must be a size CxHxW such as 3x224x224, got {shape!r}", span)
    return env


def window(n: int, k: int, s: int, d: int, pad: object, ceil: bool) -> tuple[int, int, int]:
    """Output size and (before, after) padding of one spatial dimension.

    `pad` is "same" (TensorFlow's rule: out = ceil(n / s), the odd extra cell at the
    end), "valid", or a pair (before, after). `ceil` rounds the output up as
    PyTorch's ceil_mode does, never starting a window inside the trailing padding.
    Returns (out, before, after); `after` includes the extra cells ceil mode reads.
    """
    eff = (k - 1) * d + 1
    if pad == "same":
        out = -(-n // s)
        total = max((out - 1) * s + eff - n, 0)
        return out, total // 2, total - total // 2
    before, after = (0, 0) if pad == "valid" else pad  # type: ignore[misc]
    span = n + before + after - eff
    if span < 0:
        return 0, before, after
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= n + before:
        out -= 1
    return out, before, max(after, (out - 1) * s + eff - n - before)


class _Sizer:
    """Counts the layers and containers a body expands to before anything is built.

    Block expansions are memoised per argument values, so a chain of blocks that
    each repeat the next is priced in linear time and refused before it explodes.
    Containers (block uses, concats, residuals, repeats and repeat copies) are counted
    apart from layers: nested repeats of empty blocks, or thousands of layers each
    wrapped in dozens of blocks, would take as long to build as layers do.
    """

    def __init__(self, model: ir.Model, limits: Limits) -> None:
        self.model = model
        self.limits = limits
        self.memo: dict[tuple[str, tuple[object, ...]], tuple[int, int]] = {}

    def body(self, body: tuple[ir.Node, ...], env: Mapping[str, ex.Value], depth: int) -> tuple[int, int]:
        layers = containers = 0
        for node in body:
            node_layers, node_containers = self.node(node, env, depth)
            layers += node_layers
            containers += node_containers
            if layers > self.limits.max_nodes:
                alone = f" ({_describe(node)} alone expands to {node_layers:,})" if node_layers > 1 else ""
                raise SpecLimitError(
                    f"the model would have more than {self.limits.max_nodes:,} layers{alone}", node.span
                )
            if containers > self.limits.max_containers:
                alone = f" ({_describe(node)} alone expands to {node_containers:,})" if node_containers > 1 else ""
                raise SpecLimitError(
                    f"the model would have more than {self.limits.max_containers:,} {CONTAINERS}{alone}", node.span
                )
        return layers, containers

    def node(self, node: ir.Node, env: Mapping[str, ex.Value], depth: int) -> tuple[int, int]:
        match node:
            case ir.Call():
                return self.call(node, env, depth)
            case ir.Concat(branches=branches):
                inner = self._deeper(node, depth)
                sizes = [self.body(b.body, env, inner) for b in branches]
                return sum(layers for layers, _ in sizes), 1 + sum(containers for _, containers in sizes)
            case ir.Residual(body=body):
                layers, containers = self.body(body, env, self._deeper(node, depth))
                return layers, 1 + containers
            case ir.Repeat(count=count, body=body):
                n = _known_int(count, env)
                layers, containers = self.body(body, env, self._deeper(node, depth))
                copy = 0 if node.single_call is not None else 1  # a single block use is the copy itself
                return n * layers, 1 + n * (containers + copy)
        return 1, 0

    def call(self, node: ir.Call, env: Mapping[str, ex.Value], depth: int) -> tuple[int, int]:
        args = {name: _known(value, env) for name, value in node.args}
        key = (node.block, tuple(args.values()))
        if key not in self.memo:
            layers, containers = self.body(self.model.block(node.block).body, args, self._deeper(node, depth))
            self.memo[key] = (layers, 1 + containers)
        return self.memo[key]

    def _deeper(self, node: ir.Node, depth: int) -> int:
        if depth >= self.limits.max_depth:
            raise SpecLimitError(f"nesting deeper than {self.limits.max_depth} levels", node.span)
        return depth + 1


#: What `Limits.max_containers` counts, for messages.
CONTAINERS = "containers (block uses, concats, residuals, repeats and repeat copies)"


def _known(e: ex.Expr, env: Mapping[str, ex.Value]) -> ex.Value | None:
    """An expression's value, or None when it needs shapes (`in.channels`) or is wrong."""
    try:
        return ex.evaluate(e, env)
    except (SpecNameError, SpecArgumentError, SpecLimitError, TypeError):
        return None


def _known_int(e: ex.Expr, env: Mapping[str, ex.Value]) -> int:
    value = _known(e, env)
    # Unknown or invalid counts are priced at 1: the checker reports them properly.
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_COUNT else 1


MAX_COUNT = 10**9


def _describe(node: ir.Node) -> str:
    if isinstance(node, ir.Call):
        return f"{node.block}()"
    return type(node).__name__.lower()


class _Checker:
    def __init__(self, model: ir.Model, limits: Limits) -> None:
        self.model = model
        self.limits = limits
        self.nodes: list[NodeInfo] = []
        self.leaves = 0
        self.containers = 0

    # ---------------------------------------------------------------- plumbing
    def _add(self, info: NodeInfo) -> NodeInfo:
        self.nodes.append(info)
        if not info.is_container:
            self.leaves += 1
            if self.leaves > self.limits.max_nodes:
                raise SpecLimitError(f"the model has more than {self.limits.max_nodes:,} layers", _span(info.node))
        return info

    def _placeholder(self, node: object) -> int:
        """Reserve the slot of a container (filled in once its contents are checked)."""
        self.containers += 1
        if self.containers > self.limits.max_containers:
            raise SpecLimitError(f"the model has more than {self.limits.max_containers:,} {CONTAINERS}", _span(node))
        self.nodes.append(None)  # type: ignore[arg-type]
        return len(self.nodes) - 1

    def _value(self, e: ex.Expr, env: Mapping[str, ex.Value], what: str, kind=int, positive=True) -> ex.Value:
        value = ex.evaluate(e, env)
        if kind is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        if kind in (int, float) and (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (kind is int and not isinstance(value, int))
        ):
            raise SpecArgumentError(
                f"{what} must be {'an integer' if kind is int else 'a number'}, got {value!r}", e.span
            )
        if positive and kind is int and value <= 0:
            raise SpecShapeError(f"{what} must be positive, got {value}", e.span)
        return value

    def _pair(self, e: ex.Expr, env, what: str) -> tuple[int, int]:
        value = ex.evaluate(e, env)
        if isinstance(value, int) and not isinstance(value, bool):
            value = (value, value)
        if not (isinstance(value, tuple) and len(value) == 2) or min(value) <= 0:
            raise SpecArgumentError(f"{what} must be N or HxW with positive sizes, got {value!r}", e.span)
        return value

    def _pads(self, e: ex.Expr, env) -> object:
        value = ex.evaluate(e, env)
        if value in ("same", "valid"):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return ((value, value), (value, value))
        if isinstance(value, tuple) and len(value) == 2:
            return ((value[0], value[0]), (value[1], value[1]))
        if isinstance(value, tuple) and len(value) == 4:
            return ((value[0], value[1]), (value[2], value[3]))
        raise SpecArgumentError(f"pad must be same, valid, N, HxW or TxBxLxR, got {value!r}", e.span)

    # ---------------------------------------------------------------- scopes
    def run_body(self, body, shape: Shape, env, prefix: str, depth: int) -> Shape:
        for node in body:
            shape = self.run_node(node, shape, env, prefix, depth)
        return shape

    def run_node(self, node: ir.Node, shape: Shape, env, prefix: str, depth: int) -> Shape:
        path = f"{prefix}{node.name}"
        match node:
            case ir.Call():
                return self._call(node, shape, env, path, depth)
            case ir.Concat():
                return self._concat(node, shape, env, prefix, depth)
            case ir.Residual():
                return self._residual(node, shape, env, prefix, depth)
            case ir.Repeat():
                return self._repeat(node, shape, env, path, depth)
        return self._add(self._layer(node, shape, env, path, depth)).out_shape

    def _call(self, node: ir.Call, shape: Shape, env, path: str, depth: int) -> Shape:
        if depth > self.limits.max_depth:
            raise SpecLimitError(f"nesting deeper than {self.limits.max_depth} levels", node.span)
        block = self.model.block(node.block)
        inner = {name: ex.evaluate(value, env) for name, value in node.args}
        inner.update(_in_attrs(shape))
        slot = self._placeholder(node)
        try:
            out = self.run_body(block.body, shape, inner, f"{path}.", depth + 1)
        except InceptgenError as exc:
            # The span points into the block definition; say which instance went wrong.
            if not getattr(exc, "instance_noted", False):
                where = f"in {path} (block {block.name} used at {node.span}, input {_fmt(shape)})"
                exc.hint = f"{exc.hint}; {where}" if exc.hint else where
                exc.instance_noted = True  # type: ignore[attr-defined]
            raise
        self.nodes[slot] = NodeInfo(path, f"block:{block.name}", node, shape, out, depth=depth)
        return out

    def _repeat(self, node: ir.Repeat, shape: Shape, env, path: str, depth: int) -> Shape:
        count = self._value(node.count, env, "repeat count")
        if count > self.limits.max_repeat:
            raise SpecLimitError(
                f"repeat count {count:,} is above the limit of {self.limits.max_repeat:,}", node.count.span or node.span
            )
        slot = self._placeholder(node)
        start = shape
        call = node.single_call
        for i in range(count):
            if call is not None:
                shape = self._call(call, shape, env, f"{path}.{i}", depth + 1)
            else:
                copy = self._placeholder(node)
                before = shape
                shape = self.run_body(node.body, shape, env, f"{path}.{i}.", depth + 1)
                self.nodes[copy] = NodeInfo(f"{path}.{i}", "repeat copy", node, before, shape, depth=depth + 1)
        self.nodes[slot] = NodeInfo(path, f"repeat x{count}", node, start, shape, depth=depth)
        return shape

    def _concat(self, node: ir.Concat, shape: Shape, env, prefix: str, depth: int) -> Shape:
        slot = self._placeholder(node)
        outs = []
        for branch in node.branches:
            out = self.run_body(branch.body, shape, env, prefix, depth + 1)
            outs.append((branch, out))
        if any(len(o) != 3 for _, o in outs) or len({o[1:] for _, o in outs}) > 1:
            listing = "; ".join(f"{b.name} {_fmt(o)}" for b, o in outs)
            raise SpecShapeError(
                f"concat branches differ in height x width: {listing}",
                node.span,
                "all branches must end with the same HxW (check stride and pad)",
            )
        out = (sum(o[0] for _, o in outs), *outs[0][1][1:])
        self.nodes[slot] = NodeInfo(f"{prefix}{node.name}", "concat", node, shape, out, depth=depth)
        return out

    def _residual(self, node: ir.Residual, shape: Shape, env, prefix: str, depth: int) -> Shape:
        scale = self._value(node.scale, env, "residual scale", kind=float, positive=False)
        slot = self._placeholder(node)
        out = self.run_body(node.body, shape, env, prefix, depth + 1)
        if out != shape:
            raise SpecShapeError(
                f"residual body gives {_fmt(out)} but its input is {_fmt(shape)}",
                node.span,
                "the body must end with the input's channels (e.g. conv 1x1 -> in.channels)",
            )
        self.nodes[slot] = NodeInfo(
            f"{prefix}{node.name}", "residual", node, shape, out, values={"scale": scale}, depth=depth
        )
        return out

    # ---------------------------------------------------------------- layers
    def _layer(self, node: ir.Layer, shape: Shape, env, path: str, depth: int) -> NodeInfo:
        info = {"path": path, "node": node, "in_shape": shape, "depth": depth}
        match node:
            case ir.Conv():
                return self._conv(node, shape, env, info)
            case ir.Pool():
                return self._pool(node, shape, env, info)
            case ir.Linear():
                return self._linear(node, shape, env, info)
            case ir.GlobalPool(kind=kind):
                self._need_map(node, shape)
                return NodeInfo(op=f"global_{kind}pool", out_shape=(shape[0],), **info)
            case ir.Flatten():
                return NodeInfo(op="flatten", out_shape=(math.prod(shape),), **info)
            case ir.Dropout():
                rate = self._value(node.rate, env, "dropout rate", kind=float, positive=False)
                if not 0 <= rate < 1:
                    raise SpecArgumentError(f"dropout rate must be in [0, 1), got {rate}", node.rate.span or node.span)
                return NodeInfo(op="dropout", out_shape=shape, values={"rate": rate}, **info)
            case ir.Act(fn=fn):
                return NodeInfo(op=fn, out_shape=shape, **info)
        return NodeInfo(op="identity", out_shape=shape, **info)

    def _need_map(self, node, shape: Shape) -> None:
        if len(shape) != 3:
            raise SpecShapeError(f"{_op_word(node)} needs a CxHxW feature map, got a flat {_fmt(shape)}", node.span)

    def _conv(self, node: ir.Conv, shape: Shape, env, info) -> NodeInfo:
        self._need_map(node, shape)
        cin, h, w = shape
        kh, kw = self._pair(node.kernel, env, "kernel")
        sh, sw = self._pair(node.stride, env, "stride")
        dh, dw = self._pair(node.dilation, env, "dilation")
        groups = self._value(node.groups, env, "groups")
        cout = self._value(node.out, env, "output channels")
        if cin % groups or cout % groups:
            raise SpecShapeError(
                f"groups={groups} must divide input channels {cin} and output channels {cout}",
                node.groups.span or node.span,
            )
        out, pads = self._spatial(node, (h, w), (kh, kw), (sh, sw), (dh, dw), self._pads(node.pad, env), False)
        weights = kh * kw * (cin // groups) * cout
        bias = cout if node.bias else 0
        values = {
            "kernel": (kh, kw),
            "stride": (sh, sw),
            "dilation": (dh, dw),
            "groups": groups,
            "pads": pads,
            "channels": cout,
        }
        params, trainable, keras = _with_bn(node.bn, cout, weights + bias, env)
        macs = out[0] * out[1] * weights
        return NodeInfo(
            op="conv",
            out_shape=(cout, *out),
            params=params,
            trainable=trainable,
            keras_params=keras,
            macs=macs,
            values=values,
            **info,
        )

    def _pool(self, node: ir.Pool, shape: Shape, env, info) -> NodeInfo:
        self._need_map(node, shape)
        k = self._pair(node.kernel, env, "kernel")
        s = self._pair(node.stride, env, "stride")
        pad = self._pads(node.pad, env)
        if node.ceil and pad == "same":
            raise SpecArgumentError("ceil mode needs explicit padding, not 'same'", node.span)
        if node.ceil and node.kind == "avg":
            raise SpecArgumentError("ceil mode is supported for maxpool only", node.span)
        if isinstance(pad, tuple) and any(p > kk // 2 for pp, kk in zip(pad, k, strict=True) for p in pp):
            raise SpecShapeError(f"pooling padding {pad} is more than half the kernel {k}", node.pad.span or node.span)
        out, pads = self._spatial(node, shape[1:], k, s, (1, 1), pad, node.ceil)
        values = {"kernel": k, "stride": s, "pads": pads}
        return NodeInfo(op=f"{node.kind}pool", out_shape=(shape[0], *out), values=values, **info)

    def _spatial(self, node, size, kernel, stride, dilation, pad, ceil) -> tuple[tuple[int, int], Pads]:
        outs, pads = [], []
        for axis, (n, k, s, d) in enumerate(zip(size, kernel, stride, dilation, strict=True)):
            axis_pad = pad if isinstance(pad, str) else pad[axis]
            out, before, after = window(n, k, s, d, axis_pad, ceil)
            if out <= 0:
                padded = n if isinstance(pad, str) else n + sum(pad[axis])
                raise SpecShapeError(
                    f"{_op_word(node)} kernel {kernel[0]}x{kernel[1]} is larger than its padded input {padded} "
                    f"({'height' if axis == 0 else 'width'}; input {size[0]}x{size[1]})",
                    node.span,
                )
            outs.append(out)
            pads += [before, after]
        return (outs[0], outs[1]), tuple(pads)  # type: ignore[return-value]

    def _linear(self, node: ir.Linear, shape: Shape, env, info) -> NodeInfo:
        if len(shape) != 1:
            raise SpecShapeError(
                f"linear needs a flat input, got {_fmt(shape)}",
                node.span,
                "add 'flatten' or 'global_avgpool' before it",
            )
        out = self._value(node.out, env, "output features")
        own = shape[0] * out + (out if node.bias else 0)
        params, trainable, keras = _with_bn(node.bn, out, own, env)
        return NodeInfo(
            op="linear",
            out_shape=(out,),
            params=params,
            trainable=trainable,
            keras_params=keras,
            macs=shape[0] * out,
            values={"channels": out},
            **info,
        )


def _with_bn(bn: ir.BatchNorm | None, channels: int, own: int, env) -> tuple[int, int, int]:
    """(PyTorch params, trainable, Keras params) of a layer and its batch-norm."""
    if bn is None:
        return own, own, own
    for value, what in ((bn.eps, "batch-norm eps"), (bn.momentum, "batch-norm momentum")):
        v = ex.evaluate(value, env)
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < 1:
            raise SpecArgumentError(f"{what} must be a number in (0, 1), got {v!r}", value.span)
    gamma = channels if bn.scale else 0
    # PyTorch always has gamma; without `scale` it is frozen at 1 (not trainable).
    return own + 2 * channels, own + channels + gamma, own + gamma + 3 * channels


def _in_attrs(shape: Shape) -> dict[str, int]:
    attrs = {"in.channels": shape[0]}
    if len(shape) == 3:
        attrs.update({"in.height": shape[1], "in.width": shape[2]})
    return attrs


def _fmt(shape: Shape) -> str:
    return "x".join(map(str, shape))


def _op_word(node) -> str:
    return {ir.Conv: "conv", ir.Pool: "pool", ir.GlobalPool: "global pooling"}.get(type(node), "layer")


def _span(node) -> Span | None:
    return getattr(node, "span", None)


def check(model: ir.Model, overrides: Mapping[str, ex.Value] | None = None, limits: Limits = Limits()) -> Checked:
    """Infer every shape, parameter count and MAC count; raise on the first inconsistency.

    Args:
        model: the lowered spec.
        overrides: values for model parameters (`--set name=value`).
        limits: safety caps.

    Raises:
        InceptgenError: a shape, argument or limit error with its source span.
    """
    env = model_env(model, overrides)
    sizer = _Sizer(model, limits)
    layers = containers = 0
    for scope in (*model.stages, *model.auxes):
        scope_layers, scope_containers = sizer.body(scope.body, env, 0)
        layers += scope_layers
        containers += 1 + scope_containers
        if layers > limits.max_nodes:
            raise SpecLimitError(f"the model would have more than {limits.max_nodes:,} layers", scope.span)
        if containers > limits.max_containers:
            raise SpecLimitError(f"the model would have more than {limits.max_containers:,} {CONTAINERS}", scope.span)
    checker = _Checker(model, limits)
    shape: Shape = tuple(env["input"])  # type: ignore[arg-type]
    outputs: dict[str, Shape] = {}
    stage_out: dict[str, Shape] = {}
    for stage in model.stages:
        slot = checker._placeholder(stage)
        start = shape
        shape = checker.run_body(stage.body, shape, env, f"{stage.name}.", 1)
        checker.nodes[slot] = NodeInfo(stage.name, "stage", stage, start, shape)
        stage_out[stage.name] = shape
    outputs["main"] = shape
    for aux in model.auxes:
        slot = checker._placeholder(aux)
        start = stage_out[aux.after]
        out = checker.run_body(aux.body, start, env, f"{aux.name}.", 1)
        weight = checker._value(aux.weight, env, "aux weight", kind=float, positive=False)
        checker.nodes[slot] = NodeInfo(aux.name, "aux", aux, start, out, values={"weight": weight})
        outputs[aux.name] = out
    result = Checked(model, env, tuple(checker.nodes), outputs)
    if result.total_params > limits.max_params:
        raise SpecLimitError(
            f"the model has {result.total_params:,} parameters, above the limit of {limits.max_params:,}",
            model.stages[0].span,
        )
    return result
