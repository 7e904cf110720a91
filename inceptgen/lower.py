"""Syntax tree -> IR: imports, block definitions, layer options and defaults, names.

Lowering resolves everything that does not need shapes: each layer's options from
the vocabulary (`inceptgen.ops`), the file's and bodies' `defaults`, block arguments,
which names each expression may read, and every node's name. Values stay
expressions; the checker evaluates them.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path

from inceptgen import expr as ex
from inceptgen import ir
from inceptgen import syntax as sx
from inceptgen.calls import calls_in, check_recursion, resolve_calls
from inceptgen.errors import Span, SpecArgumentError, SpecNameError, SpecSyntaxError
from inceptgen.limits import Limits
from inceptgen.loader import Loader
from inceptgen.names import KEYWORDS, RESERVED_MEMBERS, check_identifier, suggest
from inceptgen.naming import name_scope
from inceptgen.ops import OPS
from inceptgen.options import apply_option, layer_args
from inceptgen.scopes import check_scope_names

__all__ = ["lower", "lower_text"]

_Defaults = Mapping[str, tuple[sx.Option, ...]]


class _Lowerer:
    def __init__(self, loader: Loader) -> None:
        self.loader = loader
        self.limits = loader.limits
        self.blocks: dict[str, ir.BlockDef] = {}
        self.block_files: dict[str, str] = {}
        #: (call span, parameter name) -> span of `name = value`, for errors about named arguments.
        self.arg_spans: dict[tuple[Span, str], Span] = {}

    # files and imports -------------------------------------------------------------
    def lower_file(self, module: sx.Module) -> _Defaults:
        """Lower a file's block definitions (and its imports'); return its top-level defaults."""
        defaults: _Defaults = {}
        for item in module.items:
            if isinstance(item, sx.Defaults):
                defaults = self.extend_defaults(defaults, item)
        with self.loader.entered(module.file):
            for item in module.items:
                if isinstance(item, sx.Import):
                    imported = self.loader.load_import(item, module.file)
                    if imported is not None:
                        self._lower_library(imported)
                elif isinstance(item, sx.BlockDef):
                    self._add_block(item, defaults, module.file)
        return defaults

    def _lower_library(self, module: sx.Module) -> None:
        for item in module.items:
            if isinstance(item, sx.ModelDecl | sx.Variant | sx.Stage | sx.Head | sx.Aux):
                kind = type(item).__name__.lower().replace("decl", "")
                raise SpecSyntaxError(
                    f"an imported file may only define blocks (and import, defaults), found a {kind}", item.span
                )
        self.lower_file(module)

    def _add_block(self, item: sx.BlockDef, defaults: _Defaults, file: str) -> None:
        check_identifier(item.name, item.span, "block")
        if item.name in OPS or item.name in KEYWORDS:
            raise SpecNameError(f"block name {item.name!r} is a layer keyword", item.span)
        if item.name in self.blocks:
            first = self.blocks[item.name].span
            raise SpecNameError(f"block {item.name!r} is already defined at {first}", item.span)
        params = self.params(item.params, "block parameter")
        _required_first(params)
        for p in params:
            # Arguments are evaluated where the block is used, so a default naming anything
            # (`e = c * 2`) would silently read the caller's names: defaults are constants.
            named = [e for e in ex.walk(p.default) if isinstance(e, ex.Ref | ex.Attr)] if p.default else []
            if named:
                raise SpecNameError(
                    f"the default of block parameter {p.name!r} uses the name {ex.render(named[0])!r}",
                    named[0].span or p.span,
                    "a block parameter's default must be a constant; pass the value as an argument instead",
                )
            if p.default is not None:
                ex.evaluate(p.default, {})  # `1 // 0` is wrong even where every use gives the value
        body = self.body(item.body, defaults)
        self.blocks[item.name] = ir.BlockDef(item.name, item.span, params, body)
        self.block_files[item.name] = file

    def params(self, params: tuple[sx.Param, ...], what: str) -> tuple[ir.Param, ...]:
        seen: set[str] = set()
        for p in params:
            check_identifier(p.name, p.span, what)
            if p.name in seen:
                raise SpecNameError(f"{what} {p.name!r} is declared twice", p.span)
            seen.add(p.name)
        return tuple(ir.Param(p.name, p.default, p.span) for p in params)

    # bodies --------------------------------------------------------------------------
    def body(self, stmts: tuple[sx.Stmt, ...], defaults: _Defaults) -> ir.Body:
        nodes: list[ir.Node] = []
        for stmt in stmts:
            if isinstance(stmt, sx.Defaults):
                defaults = self.extend_defaults(defaults, stmt)
            elif isinstance(stmt, sx.Branch):
                raise SpecSyntaxError("'branch' is only allowed directly inside 'concat { ... }'", stmt.span)
            elif isinstance(stmt, sx.Shortcut):
                raise SpecSyntaxError("'shortcut' is only allowed directly inside 'residual { ... }'", stmt.span)
            else:
                nodes.append(self._STATEMENTS[type(stmt)](self, stmt, defaults))
        return tuple(nodes)

    def _concat(self, stmt: sx.Concat, defaults: _Defaults) -> ir.Node:
        branches = []
        for i, child in enumerate(stmt.body):
            if not isinstance(child, sx.Branch):
                raise SpecSyntaxError("a concat holds only 'branch { ... }' items", child.span)
            label = self.explicit(child.name, child.span) or f"branch{i}"
            branches.append(ir.Branch(label, child.span, self.body(child.body, defaults)))
        if len(branches) < 2:
            raise SpecArgumentError(f"a concat needs at least 2 branches, got {len(branches)}", stmt.span)
        return ir.Concat(self.explicit(stmt.name, stmt.span) or "concat", stmt.span, tuple(branches))

    def _residual(self, stmt: sx.Residual, defaults: _Defaults) -> ir.Node:
        shortcuts = [s for s in stmt.body if isinstance(s, sx.Shortcut)]
        if len(shortcuts) > 1:
            raise SpecSyntaxError("a residual has one shortcut; found a second", shortcuts[1].span)
        main = tuple(s for s in stmt.body if not isinstance(s, sx.Shortcut))
        body = self.body(main, defaults)
        if not body:
            raise SpecArgumentError("a residual body is empty", stmt.span)
        shortcut = (
            self.body(shortcuts[0].body, self._defaults_at(stmt.body, shortcuts[0], defaults)) if shortcuts else ()
        )
        name = self.explicit(stmt.name, stmt.span) or "residual"
        return ir.Residual(name, stmt.span, stmt.scale or ex.Num(1.0), body, shortcut)

    def _defaults_at(self, stmts: tuple[sx.Stmt, ...], at: sx.Stmt, defaults: _Defaults) -> _Defaults:
        """The defaults in force at `at` in a body: those of the `defaults` statements before it."""
        for stmt in stmts[: stmts.index(at)]:
            if isinstance(stmt, sx.Defaults):
                defaults = self.extend_defaults(defaults, stmt)
        return defaults

    def _gate(self, stmt: sx.Gate, defaults: _Defaults) -> ir.Node:
        body = self.body(stmt.body, defaults)
        if not body:
            raise SpecArgumentError("a gate body is empty", stmt.span)
        return ir.Gate(self.explicit(stmt.name, stmt.span) or "gate", stmt.span, body)

    def _repeat(self, stmt: sx.Repeat, defaults: _Defaults) -> ir.Node:
        if stmt.index is not None:
            check_identifier(stmt.index, stmt.span, "repeat index")
        body = self.body(stmt.body, defaults)
        if not body:
            raise SpecArgumentError("a repeat body is empty", stmt.span)
        return ir.Repeat(self.explicit(stmt.name, stmt.span) or "repeat", stmt.span, stmt.count, stmt.index, body)

    def _if(self, stmt: sx.If, defaults: _Defaults) -> ir.Node:
        then, otherwise = self.body(stmt.then, defaults), self.body(stmt.otherwise, defaults)
        return ir.If("cond", stmt.span, stmt.cond, then, otherwise)

    def explicit(self, name: str | None, span: Span) -> str | None:
        if name is None:
            return None
        check_identifier(name, span, "layer")
        if name in RESERVED_MEMBERS or name in OPS:
            raise SpecNameError(f"layer name {name!r} is reserved", span, f"try {name}_1")
        return name

    def _call(self, stmt: sx.Call, _defaults: _Defaults) -> ir.Node:
        # Blocks may be defined after use, so arguments are matched in `_resolve_calls`.
        named = {a.name: a.value for a in stmt.args if a.name is not None}
        positional = tuple(a.value for a in stmt.args if a.name is None)
        if any(a.name is None for a in stmt.args[len(positional) :]):
            bad = next(a for a in stmt.args[len(positional) :] if a.name is None)
            raise SpecArgumentError("a positional argument follows a named one", bad.span)
        if len(named) != len(stmt.args) - len(positional):
            dup = Counter(a.name for a in stmt.args if a.name).most_common(1)[0][0]
            second = [a for a in stmt.args if a.name == dup][1]
            raise SpecArgumentError(f"argument {dup!r} is given twice", second.span)
        for a in stmt.args:
            if a.name is not None:
                self.arg_spans[(stmt.span, a.name)] = a.span
        args = ir.Args((*((f"#{i}", v) for i, v in enumerate(positional)), *named.items()))
        return ir.Call(self.explicit(stmt.name, stmt.span) or stmt.block, stmt.span, stmt.block, args)

    # layers and options ---------------------------------------------------------------
    def _layer(self, layer: sx.Layer, defaults: _Defaults) -> ir.Node:
        op = OPS.get(layer.op)
        if op is None:
            hint = suggest(layer.op, [*OPS, *self.blocks]) or f"known layers: {', '.join(OPS)}"
            raise SpecNameError(f"unknown layer {layer.op!r}", layer.span, hint)
        args = layer_args(layer, op, defaults.get(layer.op, ()))
        name = self.explicit(layer.name, layer.span) or layer.op
        return ir.Layer(layer.op, name, layer.span, ir.Args(args))  # type: ignore[arg-type]

    def extend_defaults(self, defaults: _Defaults, item: sx.Defaults) -> _Defaults:
        merged = dict(defaults)
        for rule in item.rules:
            op = OPS.get(rule.op)
            if op is None:
                raise SpecNameError(f"unknown layer {rule.op!r} in defaults", rule.span, suggest(rule.op, OPS))
            for option in rule.options:  # validate now, so the error points at the rule
                apply_option(op, option, {})
            merged[rule.op] = (*merged.get(rule.op, ()), *rule.options)
        return merged

    _STATEMENTS: dict[type, Callable[[_Lowerer, sx.Stmt, _Defaults], ir.Node]] = {
        sx.Layer: _layer,
        sx.Call: _call,
        sx.Concat: _concat,
        sx.Residual: _residual,
        sx.Gate: _gate,
        sx.Repeat: _repeat,
        sx.If: _if,
    }


# model ---------------------------------------------------------------------------------


def _model_decl(module: sx.Module) -> sx.ModelDecl:
    decls = [i for i in module.items if isinstance(i, sx.ModelDecl)]
    if not decls:
        raise SpecSyntaxError(
            "no 'model NAME(...)' declaration",
            Span(module.file, 1, 1),
            "start with: model my_net(classes = 10, input = 3x32x32)",
        )
    if len(decls) > 1:
        raise SpecNameError("a spec declares one model; found a second", decls[1].span)
    return decls[0]


def lower(module: sx.Module, loader: Loader) -> ir.Model:
    """Lower a parsed main spec (and its imports) into the IR."""
    lowerer = _Lowerer(loader)
    decl = _model_decl(module)
    check_identifier(decl.name, decl.span, "model")
    defaults = lowerer.lower_file(module)
    params = lowerer.params(decl.params, "model parameter")
    if "input" not in {p.name for p in params}:
        raise SpecArgumentError("the model needs an input shape: model name(input = 3x224x224)", decl.span)
    stages, auxes = _scopes(module, lowerer, defaults)
    spans = lowerer.arg_spans
    blocks = {
        name: dataclasses.replace(b, body=name_scope(resolve_calls(b.body, lowerer.blocks, spans)))
        for name, b in lowerer.blocks.items()
    }
    check_recursion(blocks)
    stages = tuple(dataclasses.replace(s, body=name_scope(resolve_calls(s.body, blocks, spans))) for s in stages)
    auxes = tuple(dataclasses.replace(a, body=name_scope(resolve_calls(a.body, blocks, spans))) for a in auxes)
    model_names = {p.name for p in params}
    for block in blocks.values():
        check_scope_names(block.body, {p.name for p in block.params}, in_block=True)
    for scope in (*stages, *auxes):
        check_scope_names(scope.body, model_names, in_block=False)
    variants = _variants(module, params)
    warnings = _unused_blocks(blocks, [*stages, *auxes], lowerer.block_files, module.file)
    digest = loader.hash.hexdigest()[:16]
    return ir.Model(decl.name, module.file, digest, params, blocks, stages, auxes, variants, warnings)


def _scopes(module: sx.Module, lowerer: _Lowerer, defaults: _Defaults) -> tuple[list[ir.Scope], list[ir.Aux]]:
    stages: list[ir.Scope] = []
    auxes: list[ir.Aux] = []
    names: dict[str, Span] = {}

    def claim(name: str, span: Span) -> None:
        check_identifier(name, span, "stage")
        if name in RESERVED_MEMBERS:
            raise SpecNameError(f"stage name {name!r} is reserved", span)
        if name in names:
            raise SpecNameError(f"{name!r} is already defined at {names[name]}", span)
        names[name] = span

    head_seen = False
    for item in module.items:
        if isinstance(item, sx.Stage | sx.Head):
            name = "head" if isinstance(item, sx.Head) else item.name
            claim(name, item.span)  # first: a second head is reported as a duplicate
            if head_seen:
                raise SpecSyntaxError("the head must come after every stage", item.span)
            head_seen = isinstance(item, sx.Head)
            stages.append(ir.Scope(name, item.span, lowerer.body(item.body, defaults)))
        elif isinstance(item, sx.Aux):
            claim(item.name, item.span)
            weight = item.weight or ex.Num(0.3)
            auxes.append(ir.Aux(item.name, item.span, item.after, weight, lowerer.body(item.body, defaults)))
    if not stages:
        raise SpecSyntaxError("the model has no stages", module.items[0].span if module.items else None)
    stage_names = [s.name for s in stages]
    for aux in auxes:
        src = next(i for i in module.items if isinstance(i, sx.Aux) and i.name == aux.name)
        if aux.after not in stage_names or aux.after == "head":
            readable = [n for n in stage_names if n != "head"]
            raise SpecNameError(
                f"aux head reads unknown stage {aux.after!r}", src.after_span, suggest(aux.after, readable)
            )
    return stages, auxes


def _variants(module: sx.Module, params: tuple[ir.Param, ...]) -> tuple[ir.Variant, ...]:
    known = [p.name for p in params]
    variants: dict[str, ir.Variant] = {}
    for item in module.items:
        if not isinstance(item, sx.Variant):
            continue
        check_identifier(item.name, item.span, "variant")
        if item.name in variants:
            raise SpecNameError(f"variant {item.name!r} is defined twice", item.span)
        values: dict[str, ex.Expr] = {}
        for arg in item.args:
            if arg.name is None:
                raise SpecArgumentError("a variant gives parameters by name: variant b1(width = 1.1)", arg.span)
            if arg.name not in known:
                raise SpecNameError(
                    f"variant {item.name!r} sets {arg.name!r}, which is not a model parameter",
                    arg.span,
                    suggest(arg.name, known) or f"model parameters: {', '.join(known)}",
                )
            if arg.name in values:
                raise SpecArgumentError(f"variant {item.name!r} sets {arg.name!r} twice", arg.span)
            _check_earlier_params(arg.value, known[: known.index(arg.name)], f"variant {item.name!r}")
            values[arg.name] = arg.value
        variants[item.name] = ir.Variant(item.name, item.span, ir.Args(values))
    return tuple(variants.values())


def _check_earlier_params(value: ex.Expr, earlier: list[str], where: str) -> None:
    """A model parameter's value reads only the parameters declared before it (as defaults do)."""
    for node in ex.walk(value):
        name = (
            node.name if isinstance(node, ex.Ref) else f"{node.obj}.{node.attr}" if isinstance(node, ex.Attr) else None
        )
        if name is not None and name not in earlier:
            hint = f"parameters before it: {', '.join(earlier)}" if earlier else "it is the first parameter"
            raise SpecNameError(f"{where}: unknown name {name!r}", node.span, hint)


def _unused_blocks(blocks, scopes, files, main_file) -> tuple[tuple[str, Span], ...]:
    used = {c.block for s in scopes for c in calls_in(s.body)}
    used |= {c.block for b in blocks.values() for c in calls_in(b.body)}
    return tuple(
        (f"block {name!r} is defined but never used", b.span)
        for name, b in blocks.items()
        if name not in used and files[name] == main_file
    )


def _required_first(params: tuple[ir.Param, ...]) -> None:
    """As in Python, parameters without a default come before those with one."""
    for before, after in itertools.pairwise(params):
        if before.default is not None and after.default is None:
            raise SpecArgumentError(
                f"block parameter {after.name!r} has no default but follows {before.name!r}, which has one",
                after.span,
                "put the parameters without a default first",
            )


def lower_text(text: str, file: str = "<spec>", limits: Limits = Limits(), resolve_stdlib=None) -> ir.Model:
    """Parse and lower spec text (imports resolved relative to `file`)."""
    loader = Loader(limits, resolve_stdlib)
    return lower(loader.load_text(text, file), loader)


def lower_path(path: Path, limits: Limits = Limits(), resolve_stdlib=None) -> ir.Model:
    """Read, parse and lower a spec file."""
    loader = Loader(limits, resolve_stdlib)
    return lower(loader.load_path(path), loader)
