"""Hover: what the checker found for the statement under the cursor.

The position is mapped to the innermost IR node whose span holds it (a conv inside a
branch inside a concat: the conv), and every instance the checker made of that node is
listed with its path, shapes, parameters and MACs (a block used three times: three rows).
Containers (block uses, concats, stages) count everything inside them. Where the checker
has no instance (a library, a block never used), a layer keyword or block name under the
cursor is described from the vocabulary or the block's definition instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from lsprotocol import types as lsp

from inceptgen import expr as ex
from inceptgen import ir
from inceptgen.check import Checked, NodeInfo
from inceptgen.errors import Span
from inceptgen.lsp.analysis import Analysis
from inceptgen.lsp.positions import Positions
from inceptgen.ops import OPS, fmt_shape

__all__ = ["hover", "nodes_at", "spec_value"]

#: Instances listed in one hover; the rest are counted.
MAX_ROWS = 8


def hover(analysis: Analysis, positions: Positions, line: int, column: int) -> lsp.Hover | None:
    """The hover for 1-based (line, column) of the document, or None when there is nothing to say."""
    checked = analysis.checked
    instances = nodes_at(checked, analysis.file, line, column) if checked is not None else []
    if instances:
        text = _instances_markdown(checked, instances)  # type: ignore[arg-type]
        return _markdown(text, positions.range(instances[0].node.span))  # type: ignore[attr-defined]
    word = positions.word_at(line, column)
    text = _word_markdown(analysis, word) if word else None
    return _markdown(text, None) if text else None


def nodes_at(checked: Checked, file: str, line: int, column: int) -> list[NodeInfo]:
    """Every instance of the innermost IR node whose span (in `file`) holds the position."""
    best: Span | None = None
    found: list[NodeInfo] = []
    for info in checked.nodes:
        span = getattr(info.node, "span", None)
        if span is None or span.file != file or not _contains(span, line, column):
            continue
        if best is None or _size(span) < _size(best):
            best, found = span, [info]
        elif span == best:
            found.append(info)
    return found


def _contains(span: Span, line: int, column: int) -> bool:
    end = (span.end_line or span.line, span.end_column or span.column + 1)
    return (span.line, span.column) <= (line, column) <= end


def _size(span: Span) -> tuple[int, int]:
    return ((span.end_line or span.line) - span.line, (span.end_column or span.column) - span.column)


def _instances_markdown(checked: Checked, instances: Sequence[NodeInfo]) -> str:
    first = instances[0]
    totals = _totals(checked, {info.path for info in instances}) if first.is_container else {}
    summary = OPS[first.op].summary if first.op in OPS else None
    lines = [f"**{first.op}**: {summary}" if summary else f"**{first.op}**", ""]
    if len(instances) > 1:
        lines += [f"{len(instances)} instances", ""]
    lines += ["| path | input | output | parameters | MACs |", "|---|---|---|---|---|"]
    for info in instances[:MAX_ROWS]:
        params, macs = totals.get(info.path, (info.params, info.macs))
        shapes = f"{fmt_shape(info.in_shape)} | {fmt_shape(info.out_shape)}"
        lines.append(f"| `{info.path}` | {shapes} | {params:,} | {macs:,} |")
    if len(instances) > MAX_ROWS:
        lines += ["", f"... and {len(instances) - MAX_ROWS} more"]
    if first.is_container:
        lines += ["", "Parameters and MACs count everything inside."]
    return "\n".join(lines)


def _totals(checked: Checked, paths: set[str]) -> dict[str, tuple[int, int]]:
    """Parameters and MACs of each container instance with everything inside it.

    The checker lists nodes parents first, each with its depth: a node's contents are the
    nodes after it that are deeper (a concat's branches are named in the enclosing scope,
    so paths alone would not tell).
    """
    nodes = checked.nodes
    totals: dict[str, tuple[int, int]] = {}
    for k, info in enumerate(nodes):
        if info.path not in paths:
            continue
        params, macs, j = info.params, info.macs, k + 1
        while j < len(nodes) and nodes[j].depth > info.depth:
            params, macs, j = params + nodes[j].params, macs + nodes[j].macs, j + 1
        totals[info.path] = (params, macs)
    return totals


def _word_markdown(analysis: Analysis, word: str) -> str | None:
    """A layer keyword from the vocabulary, or a block from its definition."""
    if word in OPS:
        op = OPS[word]
        options = ", ".join(f"`{key}`" for key in op.options)
        flags = ", ".join(f"`{flag}`" for flag in op.flags)
        text = f"**{word}** (layer): {op.summary}\n\noptions: {options}"
        return text + (f"\n\nflags: {flags}" if flags else "")
    blocks = analysis.model.blocks if analysis.model is not None else {}
    if word in blocks:
        block = blocks[word]
        return f"```incept\nblock {word}({_params(block.params)})\n```\ndefined at {block.span}"
    return None


def _params(params: Sequence[ir.Param]) -> str:
    return ", ".join(p.name if p.default is None else f"{p.name} = {spec_value(p.default)}" for p in params)


def spec_value(expr: ex.Expr) -> str:
    """A constant as a spec writes it (`3x3`, `true`, `0.5`); anything else as its Python rendering."""
    match expr:
        case ex.Size(dims):
            return "x".join(map(str, dims))
        case ex.Bool(value):
            return "true" if value else "false"
        case ex.Str(value):
            return f'"{value}"'
        case ex.Neg(inner):
            return f"-{spec_value(inner)}"
        case _:
            return ex.render(expr)


def _markdown(text: str, where: lsp.Range | None) -> lsp.Hover:
    return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, text), where)
