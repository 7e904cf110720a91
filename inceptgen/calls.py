"""Block uses: each call's arguments matched to its block's parameters, and no block using itself."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from inceptgen import ir
from inceptgen.errors import SpecArgumentError, SpecNameError
from inceptgen.names import suggest
from inceptgen.ops import OPS, Op

__all__ = ["calls_in", "check_recursion", "resolve_calls"]


def resolve_calls(body: ir.Body, blocks: Mapping[str, ir.BlockDef], arg_spans) -> ir.Body:
    """Match each call's arguments to its block's parameters, in declaration order."""

    def resolve(node: ir.Node) -> ir.Node:
        if isinstance(node, ir.Call):
            return dataclasses.replace(node, args=_match_args(node, blocks, arg_spans))
        return node

    return ir.transform(body, resolve)


def _layer_forms(op: Op) -> str:
    """How a layer is written, for a spec that wrote it like a block use."""
    if op.positional is not None:
        return f"write `{op.keyword} <value>` or `{op.keyword} {op.positional} (<expression>)`"
    if op.options:
        return f"write its options after it, `{op.keyword} {next(iter(op.options))} <value>`"
    return f"{op.keyword} takes no value: write `{op.keyword}`"


def _match_args(call: ir.Call, blocks: Mapping[str, ir.BlockDef], arg_spans) -> ir.Args:
    block = blocks.get(call.block)
    if block is None and call.block in OPS:  # `leaky_relu (0.125)`: a layer's value in parentheses
        raise SpecNameError(
            f"{call.block!r} is a layer, not a block: a name followed by '(' uses a block",
            call.span,
            _layer_forms(OPS[call.block]),
        )
    if block is None:
        hint = suggest(call.block, blocks) or (f"defined blocks: {', '.join(blocks)}" if blocks else None)
        raise SpecNameError(f"unknown block {call.block!r}", call.span, hint)
    names = [p.name for p in block.params]
    signature = f"{call.block}({', '.join(names)})"
    positional = [v for k, v in call.args.items() if k.startswith("#")]
    named = {k: v for k, v in call.args.items() if not k.startswith("#")}
    if len(positional) > len(names):
        raise SpecArgumentError(
            f"{call.block}() takes {len(names)} argument(s), got {len(positional) + len(named)}",
            positional[len(names)].span or call.span,
            signature,
        )
    given = dict(zip(names, positional, strict=False))  # the rest are named or defaulted
    for key, value in named.items():
        where = arg_spans.get((call.span, key)) or value.span or call.span
        if key not in names:
            raise SpecNameError(f"{call.block}() has no parameter {key!r}", where, suggest(key, names) or signature)
        if key in given:
            raise SpecArgumentError(f"{call.block}() got parameter {key!r} twice (positionally and by name)", where)
        given[key] = value
    for param in block.params:
        if param.name not in given:
            if param.default is None:
                raise SpecArgumentError(f"{call.block}() is missing argument {param.name!r}", call.span, signature)
            given[param.name] = param.default
    return ir.Args(tuple((p.name, given[p.name]) for p in block.params))


def calls_in(body: ir.Body) -> list[ir.Call]:
    return [n for n in ir.walk(body) if isinstance(n, ir.Call)]


def check_recursion(blocks: Mapping[str, ir.BlockDef]) -> None:
    # Depth-first search with an explicit stack: a chain of thousands of blocks, each using
    # the next, must not exhaust Python's recursion limit.
    state: dict[str, int] = {}  # 1 visiting, 2 done
    for root in blocks:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(calls_in(blocks[root].body)))]
        while stack:
            name, calls = stack[-1]
            call = next(calls, None)
            if call is None:
                state[name] = 2
                stack.pop()
            elif state.get(call.block) == 1:
                raise SpecNameError(f"block {call.block!r} uses itself (through {name!r})", call.span)
            elif call.block not in state:
                state[call.block] = 1
                stack.append((call.block, iter(calls_in(blocks[call.block].body))))
