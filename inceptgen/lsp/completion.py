"""Completion: the words that may come at the cursor, from the vocabulary and the document.

The context is read from the text before the cursor, without parsing it (it is being
typed, so it rarely parses): the bodies still open (`{` not yet closed) and the statement
so far. At the top level: the item keywords; at the start of a statement: layer keywords
(`inceptgen.ops.OPS`), the structure keywords and the blocks; after a layer keyword: that
layer's options and flags; inside a `defaults` rule: the options of the layer it names;
inside a block call's parentheses: the block's parameters; elsewhere: the names in scope.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lsprotocol import types as lsp

from inceptgen import expr as ex
from inceptgen import ir
from inceptgen import syntax as sx
from inceptgen.lexicon import STATEMENTS, TOP_LEVEL
from inceptgen.lsp.analysis import Analysis
from inceptgen.lsp.hover import spec_value
from inceptgen.ops import OPS

__all__ = ["complete", "Context", "context_at"]

#: Words that may start a statement (`else` only follows an `if`'s body).
_STARTS = tuple(word for word in STATEMENTS if word != "else")

_SKIP = re.compile(r'#[^\n]*|"[^"\n]*"?')
_HEAD = re.compile(r"(\w+)[^{};]*\Z")


@dataclass(frozen=True)
class Context:
    """Where the cursor is: the keyword of each open body, the statement so far, an open call."""

    bodies: tuple[str, ...]
    statement: str
    call: str | None

    @property
    def top_level(self) -> bool:
        return not self.bodies


def context_at(text: str, offset: int) -> Context | None:
    """The context at character `offset` of `text`; None inside a comment or a string."""
    before = text[:offset]
    bodies: list[str] = []
    calls: list[str | None] = []
    pos = 0
    for match in _SKIP.finditer(before):
        _scan(before[pos : match.start()], bodies, calls)
        pos = match.end()
        if pos >= len(before) and (match.group().startswith("#") or not match.group().endswith('"')):
            return None  # the cursor is in a comment or an unclosed string
    _scan(before[pos:], bodies, calls)
    statement = re.split(r"[{};\n]", _SKIP.sub(" ", before))[-1]
    return Context(tuple(bodies), statement, calls[-1] if calls else None)


def _scan(chunk: str, bodies: list[str], calls: list[str | None]) -> None:
    """Follow the brackets of a chunk of code (no comments or strings in it)."""
    for i, char in enumerate(chunk):
        if char == "{":
            head = _HEAD.search(re.split(r"[{};\n]", chunk[:i])[-1].strip() or "_")
            bodies.append(head.group(1) if head else "")
        elif char == "}" and bodies:
            bodies.pop()
        elif char == "(":
            name = re.search(r"(\w+)\s*\Z", chunk[:i])
            calls.append(name.group(1) if name else None)
        elif char == ")" and calls:
            calls.pop()


def complete(text: str, offset: int, line: int, analysis: Analysis) -> list[lsp.CompletionItem]:
    """Completion items at character `offset` (on 1-based `line`) of `text`.

    `analysis` is the latest version of the document that lowered (its blocks and parameters):
    text being typed rarely parses.
    """
    context = context_at(text, offset)
    if context is None:
        return []
    blocks = analysis.model.blocks if analysis.model is not None else {}
    if context.call is not None:
        if context.call in blocks:
            return _block_arguments(blocks[context.call]) + _names(analysis, line)
        return _names(analysis, line)
    words = context.statement.split()
    typing_first = not words or (len(words) == 1 and not context.statement[-1:].isspace())
    if context.top_level:
        return _keywords(TOP_LEVEL) if typing_first else []
    if context.bodies[-1] == "defaults":
        return _defaults_rule(words, typing_first)
    if typing_first:
        return _statement_starts(blocks, inside_concat=context.bodies[-1] == "concat")
    if words[0] in OPS:
        return _layer_options(words[0]) + _names(analysis, line)
    return _names(analysis, line)


def _item(label: str, kind: lsp.CompletionItemKind, detail: str | None = None, insert: str | None = None):
    return lsp.CompletionItem(label=label, kind=kind, detail=detail, insert_text=insert)


def _keywords(words: tuple[str, ...]) -> list[lsp.CompletionItem]:
    return [_item(word, lsp.CompletionItemKind.Keyword) for word in words]


def _statement_starts(blocks: dict[str, ir.BlockDef], inside_concat: bool) -> list[lsp.CompletionItem]:
    layers = [_item(key, lsp.CompletionItemKind.Function, op.summary) for key, op in OPS.items()]
    structure = _keywords(("branch",) if inside_concat else _STARTS)
    uses = [
        _item(name, lsp.CompletionItemKind.Class, f"block {name}({_signature(block)})", f"{name}(")
        for name, block in blocks.items()
    ]
    return structure + layers + uses


def _layer_options(keyword: str) -> list[lsp.CompletionItem]:
    op = OPS[keyword]
    valued = [_item(key, lsp.CompletionItemKind.Property, op.options[key].doc or None, f"{key} ") for key in op.valued]
    flags = [
        _item(flag, lsp.CompletionItemKind.EnumMember, f"{key} = {spec_value(value)}")
        for flag, (key, value) in op.flags.items()
    ]
    return valued + flags + _keywords(("as",))


def _defaults_rule(words: list[str], typing_first: bool) -> list[lsp.CompletionItem]:
    """`conv: nobias, eps 1e-3`: a layer keyword first, then its options and flags."""
    if typing_first:
        return [_item(f"{key}:", lsp.CompletionItemKind.Function, op.summary, f"{key}: ") for key, op in OPS.items()]
    keyword = words[0].rstrip(":")
    return _layer_options(keyword)[:-1] if keyword in OPS else []  # no `as` in a rule


def _block_arguments(block: ir.BlockDef) -> list[lsp.CompletionItem]:
    return [
        _item(f"{p.name} =", lsp.CompletionItemKind.Variable, _param_detail(p), f"{p.name} = ") for p in block.params
    ]


def _names(analysis: Analysis, line: int) -> list[lsp.CompletionItem]:
    """The names an expression may read here: a block's parameters (and `in.channels`) or the model's."""
    enclosing = _enclosing_block(analysis.module, line)
    if enclosing is not None:
        names = [_item(p.name, lsp.CompletionItemKind.Variable, "block parameter") for p in enclosing.params]
        names.append(_item("in.channels", lsp.CompletionItemKind.Variable, "channels of the block's input"))
    else:
        params = analysis.model.params if analysis.model is not None and not analysis.library else ()
        names = [_item(p.name, lsp.CompletionItemKind.Variable, "model parameter") for p in params]
    functions = [_item(name, lsp.CompletionItemKind.Function, "function", f"{name}(") for name in ex.FUNCTIONS]
    return names + functions


def _enclosing_block(module: sx.Module | None, line: int) -> sx.BlockDef | None:
    for item in module.items if module is not None else ():
        if isinstance(item, sx.BlockDef) and item.span.line <= line <= (item.span.end_line or item.span.line):
            return item
    return None


def _signature(block: ir.BlockDef) -> str:
    return ", ".join(_param_detail(p) for p in block.params)


def _param_detail(param: ir.Param) -> str:
    return param.name if param.default is None else f"{param.name} = {spec_value(param.default)}"
