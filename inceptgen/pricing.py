"""The checker's first pass: what a model would expand to, counted before anything is built.

Block expansions are memoised per argument values, so a chain of blocks that each
repeat the next is priced in linear time and refused before it explodes. Containers
(block uses, concats, residuals, gates, repeats and repeat copies) are counted apart
from layers: nested repeats of empty blocks, or thousands of layers each wrapped in
dozens of blocks, would take as long to build as layers do.
"""

from __future__ import annotations

from collections.abc import Mapping

from inceptgen import expr as ex
from inceptgen import ir
from inceptgen.errors import SpecArgumentError, SpecLimitError, SpecNameError
from inceptgen.limits import Limits

__all__ = ["CONTAINERS", "price_model"]

#: What `Limits.max_containers` counts, for messages.
CONTAINERS = "containers (block uses, concats, residuals, gates, repeats and repeat copies)"

MAX_COUNT = 10**9


class _Pricer:
    def __init__(self, model: ir.Model, limits: Limits) -> None:
        self.model = model
        self.limits = limits
        self.memo: dict[tuple[str, tuple[object, ...]], tuple[int, int]] = {}

    def body(self, body: ir.Body, env: Mapping[str, ex.Value], depth: int) -> tuple[int, int]:
        layers = containers = 0
        for node in body:
            node_layers, node_containers = self.node(node, env, depth)
            layers += node_layers
            containers += node_containers
            if layers > self.limits.max_nodes:
                raise SpecLimitError(
                    f"the model would have more than {self.limits.max_nodes:,} layers{_alone(node, node_layers)}",
                    node.span,
                )
            if containers > self.limits.max_containers:
                raise SpecLimitError(
                    f"the model would have more than {self.limits.max_containers:,} {CONTAINERS}"
                    f"{_alone(node, node_containers)}",
                    node.span,
                )
        return layers, containers

    def node(self, node: ir.Node, env: Mapping[str, ex.Value], depth: int) -> tuple[int, int]:
        match node:
            case ir.Layer():
                return 1, 0
            case ir.Call():
                return self.call(node, env, depth)
            case ir.Repeat(count=count, body=body):
                n = _known_int(count, env)
                layers, containers = self.body(body, env, self._deeper(node, depth))
                copy = 0 if node.single_call is not None else 1  # a single block use is the copy itself
                return n * layers, 1 + n * (containers + copy)
            case ir.If():
                taken = _known(node.cond, env)
                arms = (
                    [node.then, node.otherwise]
                    if not isinstance(taken, bool)
                    else [node.then if taken else node.otherwise]
                )
                sizes = [self.body(arm, env, self._deeper(node, depth)) for arm in arms]
                return max(s[0] for s in sizes), max(s[1] for s in sizes)
        is_branch = isinstance(node, ir.Branch)  # a concat's branch is one level with its concat
        inner = depth if is_branch else self._deeper(node, depth)
        sizes = [self.body(child, env, inner) for child in ir.bodies(node)]
        own = 0 if is_branch else 1
        return sum(s[0] for s in sizes), own + sum(s[1] for s in sizes)

    def call(self, node: ir.Call, env: Mapping[str, ex.Value], depth: int) -> tuple[int, int]:
        args = {name: _known(value, env) for name, value in node.args.items()}
        key = (node.block, tuple(args.values()))
        if key not in self.memo:
            layers, containers = self.body(self.model.block(node.block).body, args, self._deeper(node, depth))
            self.memo[key] = (layers, 1 + containers)
        return self.memo[key]

    def _deeper(self, node: ir.Node, depth: int) -> int:
        if depth >= self.limits.max_depth:
            raise SpecLimitError(f"nesting deeper than {self.limits.max_depth} levels", node.span)
        return depth + 1


def _alone(node: ir.Node, count: int) -> str:
    what = f"{node.block}()" if isinstance(node, ir.Call) else type(node).__name__.lower()
    return f" ({what} alone expands to {count:,})" if count > 1 else ""


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


def price_model(model: ir.Model, env: Mapping[str, ex.Value], limits: Limits) -> None:
    """Refuse a model that would expand beyond the layer or container limits.

    Raises:
        SpecLimitError: at the statement that makes it too large.
    """
    pricer = _Pricer(model, limits)
    layers = containers = 0
    for scope in (*model.stages, *model.auxes):
        scope_layers, scope_containers = pricer.body(scope.body, env, 0)
        layers += scope_layers
        containers += 1 + scope_containers
        if layers > limits.max_nodes:
            raise SpecLimitError(f"the model would have more than {limits.max_nodes:,} layers", scope.span)
        if containers > limits.max_containers:
            raise SpecLimitError(f"the model would have more than {limits.max_containers:,} {CONTAINERS}", scope.span)
