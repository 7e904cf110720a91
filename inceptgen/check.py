"""Shape inference: evaluate the IR for one set of parameter values.

Every node instance gets its path, input and output shape, parameter counts
(PyTorch's convention, the trainable subset, and what Keras' `count_params()`
reports) and multiply-accumulates. Layers follow their vocabulary entry's rule
(`inceptgen.ops`); the structure (block uses, branches, sums, products, repeats,
conditions) is handled here, one method per node type. Emitters and the summary
only read the result.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import field

from inceptgen import expr as ex
from inceptgen import ir
from inceptgen.errors import InceptgenError, Span, SpecArgumentError, SpecLimitError, SpecNameError, SpecShapeError
from inceptgen.limits import Limits
from inceptgen.ops import OPS, LayerContext, Shape, division_hint, fmt_shape, window
from inceptgen.pricing import CONTAINERS, price_model
from inceptgen.records import record

__all__ = ["Shape", "NodeInfo", "Checked", "check", "window", "model_env", "stage_block"]

Env = Mapping[str, ex.Value]


@record
class NodeInfo:
    """One node instance of the built model.

    Attributes:
        path: dotted path, identical to the layer name in both generated programs.
        op: the operation (`conv`, `maxpool`, `concat`, `block:inception`, `stage`, ...).
        params: parameters of this node itself, PyTorch convention (0 for containers).
        trainable: the trainable part of `params`.
        keras_params: what Keras counts for this node (running statistics included).
        macs: multiply-accumulates of this node itself.
        values: the evaluated options of a layer (kernel, stride, pads, ...).
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
        return self.op.startswith(("block:", "stage", "aux", "concat", "residual", "repeat", "branch", "gate"))


@record
class Checked:
    """The checked model: the IR plus every node instance, in execution order."""

    model: ir.Model
    env: Env
    nodes: tuple[NodeInfo, ...]
    outputs: Mapping[str, Shape]
    variant: str | None = None

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

    def instances(self, node: object) -> tuple[NodeInfo, ...]:
        """Every instance of an IR node (its uses through blocks and repeats), in execution order."""
        return self._by_node.get(id(node), ())

    @functools.cached_property
    def _by_node(self) -> dict[int, tuple[NodeInfo, ...]]:
        grouped: dict[int, list[NodeInfo]] = {}
        for info in self.nodes:
            grouped.setdefault(id(info.node), []).append(info)
        return {key: tuple(infos) for key, infos in grouped.items()}


def model_env(model: ir.Model, overrides: Mapping[str, ex.Value] | None = None, variant: str | None = None) -> Env:
    """Values of the model parameters: spec defaults, then the variant's, then `overrides`."""
    overrides = dict(overrides or {})
    known = {p.name for p in model.params}
    for name in overrides:
        if name not in known:
            raise SpecNameError(f"the model has no parameter {name!r}", None, f"parameters: {', '.join(sorted(known))}")
    chosen = _variant(model, variant)
    env: dict[str, ex.Value] = {}
    for p in model.params:
        if p.name in overrides:
            env[p.name] = overrides[p.name]
        elif chosen is not None and p.name in chosen.values:
            env[p.name] = ex.evaluate(chosen.values[p.name], env)
        elif p.default is not None:
            env[p.name] = ex.evaluate(p.default, env)
        else:
            raise SpecArgumentError(
                f"model parameter {p.name!r} has no default: give it with --set {p.name}=...", p.span
            )
    shape = env["input"]
    span = next(p.span for p in model.params if p.name == "input")
    if not (isinstance(shape, tuple) and len(shape) == 3 and all(isinstance(d, int) and d > 0 for d in shape)):
        raise SpecArgumentError(f"input must be a size CxHxW such as 3x224x224, got {shape!r}", span)
    if math.prod(shape) > ex.MAX_INT:
        raise SpecLimitError(
            f"input {fmt_shape(shape)} has {math.prod(shape):,} values per image, above the limit of {ex.MAX_INT:,}",
            span,
        )
    return env


def _variant(model: ir.Model, name: str | None) -> ir.Variant | None:
    if name is None:
        return None
    for variant in model.variants:
        if variant.name == name:
            return variant
    known = ", ".join(v.name for v in model.variants) or "none"
    raise SpecNameError(f"model {model.name} has no variant {name!r}", None, f"variants: {known}")


def stage_block(scope: ir.Scope | ir.Aux) -> ir.Call | None:
    """The block use a stage consists of, when that is all it holds: the stage *is* that block.

    `stage stem { stem() }` builds the block as the stage itself (`stem.conv1`), not a
    stage holding a block (`stem.stem.conv1`). A use named with `as` keeps its own level.
    """
    only = scope.body[0] if len(scope.body) == 1 else None
    return only if isinstance(only, ir.Call) and only.name == only.block else None


def _check_size(info: NodeInfo) -> None:
    """Refuse an output of more values per image than the integer cap (no framework could hold it)."""
    values = math.prod(info.out_shape)
    if values > ex.MAX_INT:
        raise SpecLimitError(
            f"{info.path} would have the shape {fmt_shape(info.out_shape)}: {values:,} values per image, "
            f"above the limit of {ex.MAX_INT:,}",
            _span(info.node),
        )


class _Checker:
    def __init__(self, model: ir.Model, limits: Limits) -> None:
        self.model = model
        self.limits = limits
        self.nodes: list[NodeInfo] = []
        self.leaves = 0
        self.containers = 0
        self._inferred: dict[tuple[int, Shape, str], tuple] = {}  # see _layer

    # ---------------------------------------------------------------- plumbing
    def _add(self, info: NodeInfo) -> Shape:
        _check_size(info)
        self.nodes.append(info)
        self.leaves += 1
        if self.leaves > self.limits.max_nodes:
            raise SpecLimitError(f"the model has more than {self.limits.max_nodes:,} layers", _span(info.node))
        return info.out_shape

    def _open(self, node: object) -> int:
        """Reserve the slot of a container (filled in once its contents are checked)."""
        self.containers += 1
        if self.containers > self.limits.max_containers:
            raise SpecLimitError(f"the model has more than {self.limits.max_containers:,} {CONTAINERS}", _span(node))
        self.nodes.append(None)  # type: ignore[arg-type]
        return len(self.nodes) - 1

    def _close(self, slot: int, info: NodeInfo) -> Shape:
        _check_size(info)
        self.nodes[slot] = info
        return info.out_shape

    def _number(self, e: ex.Expr, env: Env, what: str) -> float | int:
        value = ex.evaluate(e, env)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecArgumentError(f"{what} must be a number, got {value!r}", e.span)
        return value

    # ---------------------------------------------------------------- structure
    def run_body(self, body: ir.Body, shape: Shape, env: Env, prefix: str, depth: int) -> Shape:
        for node in body:
            shape = self._RULES[type(node)](self, node, shape, env, prefix, depth)
        return shape

    def _layer(self, node: ir.Layer, shape: Shape, env: Env, prefix: str, depth: int) -> Shape:
        # A layer's result depends only on the node, its input shape and the values of the
        # names its options read: the copies of a repeat and the uses of a block with the
        # same arguments reuse it (inception_resnet_v2 infers 51 of its 290 layers). The values
        # go in as their repr, which tells 1, 1.0 and True apart (one key in a dict).
        key = (id(node), shape, repr([env.get(n, _UNSET) for n in node.reads]))
        done = self._inferred.get(key)
        if done is None:
            done = self._inferred[key] = _infer_layer(node, shape, env)
        out_shape, params, trainable, keras, macs, values = done
        info = NodeInfo(
            f"{prefix}{node.name}", node.op, node, shape, out_shape, params, trainable, keras, macs, dict(values), depth
        )
        return self._add(info)

    def _call(self, node: ir.Call, shape: Shape, env: Env, prefix: str, depth: int) -> Shape:
        return self.instance(node, shape, env, f"{prefix}{node.name}", depth)

    def instance(self, node: ir.Call, shape: Shape, env: Env, path: str, depth: int, op: str | None = None) -> Shape:
        """One use of a block, as the node at `path`."""
        if depth > self.limits.max_depth:  # bodies in one file were measured when parsing; this is blocks
            raise SpecLimitError(f"nesting deeper than {self.limits.max_depth} levels", node.span)
        block = self.model.block(node.block)
        inner = {name: ex.evaluate(value, env) for name, value in node.args.items()}
        inner["in.channels"] = shape[0]
        slot = self._open(node)
        try:
            out = self.run_body(block.body, shape, inner, f"{path}.", depth + 1)
        except InceptgenError as exc:
            # The span points into the block definition; say which instance went wrong.
            if not getattr(exc, "instance_noted", False):
                where = f"in {path} (block {block.name} used at {node.span}, input {fmt_shape(shape)})"
                exc.hint = f"{exc.hint}; {where}" if exc.hint else where
                exc.instance_noted = True  # type: ignore[attr-defined]
            raise
        return self._close(slot, NodeInfo(path, op or f"block:{block.name}", node, shape, out, depth=depth))

    def _repeat(self, node: ir.Repeat, shape: Shape, env: Env, prefix: str, depth: int) -> Shape:
        path = f"{prefix}{node.name}"
        count = ex.evaluate(node.count, env)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise SpecArgumentError(
                f"repeat count must be a non-negative integer, got {count!r}", node.count.span, division_hint(count)
            )
        if count > self.limits.max_repeat:
            raise SpecLimitError(
                f"repeat count {count:,} is above the limit of {self.limits.max_repeat:,}", node.count.span or node.span
            )
        slot, start, call = self._open(node), shape, node.single_call
        for i in range(count):
            copy_env = {**env, node.index: i} if node.index else env
            if call is not None:
                shape = self.instance(call, shape, copy_env, f"{path}.{i}", depth + 1)
            else:
                copy, before = self._open(node), shape
                shape = self.run_body(node.body, shape, copy_env, f"{path}.{i}.", depth + 1)
                self._close(copy, NodeInfo(f"{path}.{i}", "repeat copy", node, before, shape, depth=depth + 1))
        return self._close(slot, NodeInfo(path, f"repeat x{count}", node, start, shape, depth=depth))

    def _concat(self, node: ir.Concat, shape: Shape, env: Env, prefix: str, depth: int) -> Shape:
        slot = self._open(node)
        outs = [(b, self.run_body(b.body, shape, env, prefix, depth + 1)) for b in node.branches]
        ranks = {len(o) for _, o in outs}
        if ranks == {1}:
            out: Shape = (sum(o[0] for _, o in outs),)  # flat vectors: features side by side
        elif ranks == {3} and len({o[1:] for _, o in outs}) == 1:
            out = (sum(o[0] for _, o in outs), *outs[0][1][1:])
        else:
            listing = "; ".join(f"{b.name} {fmt_shape(o)}" for b, o in outs)
            differ = "rank (feature maps and flat vectors)" if len(ranks) > 1 else "height x width"
            raise SpecShapeError(
                f"concat branches differ in {differ}: {listing}",
                node.span,
                "all branches must end with the same HxW (check stride and pad), or all be flat",
            )
        return self._close(slot, NodeInfo(f"{prefix}{node.name}", "concat", node, shape, out, depth=depth))

    def _residual(self, node: ir.Residual, shape: Shape, env: Env, prefix: str, depth: int) -> Shape:
        scale = self._number(node.scale, env, "residual scale")
        slot = self._open(node)
        out = self.run_body(node.body, shape, env, prefix, depth + 1)
        short = self.run_body(node.shortcut, shape, env, prefix, depth + 1)
        if out != short:
            path = "the shortcut" if node.shortcut else "its input (the identity shortcut)"
            hint = "end the body with the input's channels (conv 1x1 -> in.channels), or give a shortcut"
            raise SpecShapeError(
                f"residual body gives {fmt_shape(out)} but {path} is {fmt_shape(short)}", node.span, hint
            )
        info = NodeInfo(f"{prefix}{node.name}", "residual", node, shape, out, values={"scale": scale}, depth=depth)
        return self._close(slot, info)

    def _gate(self, node: ir.Gate, shape: Shape, env: Env, prefix: str, depth: int) -> Shape:
        slot = self._open(node)
        gate = self.run_body(node.body, shape, env, prefix, depth + 1)
        if len(gate) != len(shape) or any(g not in (s, 1) for g, s in zip(gate, shape, strict=True)):
            raise SpecShapeError(
                f"gate body gives {fmt_shape(gate)}, which does not broadcast over its input {fmt_shape(shape)}",
                node.span,
                "end the body with the input's channels, at full size or 1x1 (global_avgpool keepdims)",
            )
        return self._close(slot, NodeInfo(f"{prefix}{node.name}", "gate", node, shape, shape, depth=depth))

    def _if(self, node: ir.If, shape: Shape, env: Env, prefix: str, depth: int) -> Shape:
        taken = ex.evaluate(node.cond, env)
        if not isinstance(taken, bool):
            raise SpecArgumentError(
                f"an if needs true or false, got {taken!r}", node.cond.span, "compare with ==, <, ..."
            )
        return self.run_body(node.then if taken else node.otherwise, shape, env, prefix, depth)

    _RULES: dict[type, Callable[..., Shape]] = {
        ir.Layer: _layer,
        ir.Call: _call,
        ir.Repeat: _repeat,
        ir.Concat: _concat,
        ir.Residual: _residual,
        ir.Gate: _gate,
        ir.If: _if,
    }

    # ---------------------------------------------------------------- scopes
    def scope(self, scope: ir.Scope | ir.Aux, shape: Shape, env: Env, op: str) -> Shape:
        call = stage_block(scope)
        if call is not None:
            return self.instance(call, shape, env, scope.name, 0, op)
        slot = self._open(scope)
        out = self.run_body(scope.body, shape, env, f"{scope.name}.", 1)
        return self._close(slot, NodeInfo(scope.name, op, scope, shape, out))


def _span(node: object) -> Span | None:
    return getattr(node, "span", None)


#: Stands for a name without a value in a layer's memo key (see `_Checker._layer`).
_UNSET = object()


def _infer_layer(node: ir.Layer, shape: Shape, env: Env) -> tuple[Shape, int, int, int, int, dict[str, object]]:
    """A layer's output shape, parameters (PyTorch, trainable, Keras), MACs and values, by its vocabulary entry."""
    op = OPS[node.op]
    values = {}
    for key, e in node.args.items():
        values[key] = op.options[key].kind.check(ex.evaluate(e, env), e.span or node.span, f"{node.op} {key}")
    spans = {key: e.span for key, e in node.args.items()}
    inferred = op.infer(LayerContext(node.op, node.span, shape, values, spans))
    trainable = inferred.params if inferred.trainable is None else inferred.trainable
    keras = inferred.params if inferred.keras_params is None else inferred.keras_params
    return inferred.out_shape, inferred.params, trainable, keras, inferred.macs, {**values, **inferred.values}


def check(
    model: ir.Model,
    overrides: Mapping[str, ex.Value] | None = None,
    limits: Limits = Limits(),
    variant: str | None = None,
) -> Checked:
    """Infer every shape, parameter count and MAC count; raise on the first inconsistency.

    Args:
        model: the lowered spec.
        overrides: values for model parameters (`--set name=value`).
        limits: safety caps.
        variant: a variant of the spec, whose values come before `overrides`.

    Raises:
        InceptgenError: a shape, argument or limit error with its source span.
    """
    env = model_env(model, overrides, variant)
    price_model(model, env, limits)
    checker = _Checker(model, limits)
    shape: Shape = tuple(env["input"])  # type: ignore[arg-type]
    stage_out: dict[str, Shape] = {}
    for stage in model.stages:
        shape = stage_out[stage.name] = checker.scope(stage, shape, env, "stage")
    outputs = {"main": shape}
    for aux in model.auxes:
        outputs[aux.name] = checker.scope(aux, stage_out[aux.after], env, "aux")
    _set_aux_weights(checker, model, env)
    _one_rank_per_norm(checker.nodes)
    result = Checked(model, env, tuple(checker.nodes), outputs, variant)
    if result.total_params > limits.max_params:
        raise SpecLimitError(
            f"the model has {result.total_params:,} parameters, above the limit of {limits.max_params:,}",
            model.stages[0].span,
        )
    return result


#: Layers whose PyTorch class depends on the rank of their input (BatchNorm2d or 1d, LayerNorm2d or
#: LayerNorm): a block builds one class, so every use of the layer must see the same rank.
_RANK_BOUND = frozenset({"bn", "layernorm"})


def _one_rank_per_norm(nodes: list[NodeInfo]) -> None:
    """Refuse a normalisation that sees feature maps in one use of its block and flat vectors in another."""
    first: dict[int, NodeInfo] = {}
    for info in nodes:
        if info.op not in _RANK_BOUND:
            continue
        seen = first.setdefault(id(info.node), info)
        if len(seen.in_shape) != len(info.in_shape):
            raise SpecShapeError(
                f"{info.op} normalises feature maps in {seen.path} and flat vectors in {info.path}",
                _span(info.node),
                hint="one layer is one class in the generated PyTorch code; write a block for each",
            )


def _set_aux_weights(checker: _Checker, model: ir.Model, env: Env) -> None:
    """Each aux head's loss weight, on its node (`values["weight"]`)."""
    for aux in model.auxes:
        weight = checker._number(aux.weight, env, "aux weight")
        if weight < 0:
            raise SpecArgumentError(f"aux weight must not be negative, got {weight}", aux.weight.span or aux.span)
        index = next(i for i, n in enumerate(checker.nodes) if n.path == aux.name)
        info = checker.nodes[index]
        checker.nodes[index] = NodeInfo(
            info.path, info.op, info.node, info.in_shape, info.out_shape, values={**info.values, "weight": weight}
        )
