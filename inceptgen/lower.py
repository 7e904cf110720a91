"""Syntax tree -> IR: imports, names, block arguments, layer options and defaults.

Lowering resolves everything that does not need shapes. Values stay expressions;
the checker evaluates them. Each scope's nodes get unique, stable names here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from inceptgen import expr as ex
from inceptgen import ir
from inceptgen import syntax as sx
from inceptgen.errors import InceptgenError, Span, SpecArgumentError, SpecLimitError, SpecNameError, SpecSyntaxError
from inceptgen.limits import Limits
from inceptgen.names import RESERVED_MEMBERS, check_identifier
from inceptgen.parse import decode, parse

__all__ = ["lower", "lower_text", "LAYER_OPS", "Loader"]

_ON_OFF = {
    "bias": ("bias", True),
    "nobias": ("bias", False),
    "bn": ("bn", True),
    "nobn": ("bn", False),
    "scale": ("scale", True),
    "noscale": ("scale", False),
    "ceil": ("ceil", True),
    "floor": ("ceil", False),
    "count_pad": ("count_pad", True),
    "exclude_pad": ("count_pad", False),
    "linear": ("act", None),
    **{name: ("act", name) for name in ir.ACTIVATIONS},
}


@dataclass(frozen=True)
class _OpSpec:
    """What one layer keyword accepts: positional value, `->` channels, options, defaults."""

    positional: str | None  # "kernel" or "rate"
    channels: bool
    valued: frozenset[str]
    flags: frozenset[str]
    defaults: dict[str, object]


_ACT_FLAGS = frozenset({"linear", *ir.ACTIVATIONS})
_BN = {"bn": False, "eps": ex.Num(1e-3), "momentum": ex.Num(0.99), "scale": True}
_POOL = _OpSpec(
    "kernel",
    False,
    frozenset({"kernel", "stride", "pad"}),
    frozenset({"ceil", "floor", "count_pad", "exclude_pad"}),
    {"stride": None, "pad": ex.Str("valid"), "ceil": False, "count_pad": False},
)

#: Every layer keyword of the language.
LAYER_OPS: dict[str, _OpSpec] = {
    "conv": _OpSpec(
        "kernel",
        True,
        frozenset({"kernel", "stride", "pad", "dilation", "groups", "eps", "momentum"}),
        frozenset({"bias", "nobias", "bn", "nobn", "scale", "noscale"}) | _ACT_FLAGS,
        {
            "stride": ex.Num(1),
            "pad": ex.Str("same"),
            "dilation": ex.Num(1),
            "groups": ex.Num(1),
            "bias": True,
            "act": None,
            **_BN,
        },
    ),
    "linear": _OpSpec(
        None,
        True,
        frozenset({"eps", "momentum"}),
        frozenset({"bias", "nobias", "bn", "nobn", "scale", "noscale"}) | _ACT_FLAGS,
        {"bias": True, "act": None, **_BN},
    ),
    "maxpool": _POOL,
    "avgpool": _POOL,
    "global_avgpool": _OpSpec(None, False, frozenset(), frozenset(), {}),
    "global_maxpool": _OpSpec(None, False, frozenset(), frozenset(), {}),
    "dropout": _OpSpec("rate", False, frozenset({"rate"}), frozenset(), {}),
    "flatten": _OpSpec(None, False, frozenset(), frozenset(), {}),
    "identity": _OpSpec(None, False, frozenset(), frozenset(), {}),
    **{act: _OpSpec(None, False, frozenset(), frozenset(), {}) for act in ir.ACTIVATIONS},
}

_Defaults = dict[str, tuple[sx.Option, ...]]


def _suggest(name: str, known: Iterable[str]) -> str | None:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=3)
    return f"did you mean {' or '.join(repr(c) for c in close)}?" if close else None


class Loader:
    """Reads spec files and their imports, refusing cycles and missing files."""

    def __init__(self, limits: Limits, resolve_stdlib: Callable[[str], Path] | None = None) -> None:
        self.limits = limits
        self.resolve_stdlib = resolve_stdlib
        self._stack: list[Path] = []
        self.hash = hashlib.sha256()

    def load_text(self, text: str, file: str) -> sx.Module:
        self.hash.update(text.encode("utf-8", "surrogatepass"))  # API text may hold lone surrogates
        return parse(text, file, self.limits)

    def load_import(self, item: sx.Import, importer: str) -> sx.Module:
        path = self._resolve(item, importer)
        if path in self._stack:
            chain = " -> ".join(p.name for p in [*self._stack, path])
            raise SpecNameError(f"cyclic import: {chain}", item.span)
        if len(self._stack) >= self.limits.max_depth:
            raise SpecLimitError(f"imports nested deeper than {self.limits.max_depth}", item.span)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SpecNameError(f"cannot import {item.path!r}: {exc.strerror}", item.span) from None
        return self.load_text(decode(data, str(path), self.limits), str(path))

    def _resolve(self, item: sx.Import, importer: str) -> Path:
        if item.path.startswith("@"):
            if self.resolve_stdlib is None:
                raise SpecNameError(f"no spec library to import {item.path!r} from", item.span)
            try:
                return self.resolve_stdlib(item.path[1:])
            except InceptgenError as exc:
                raise SpecNameError(f"cannot import {item.path!r}: {exc.message}", item.span, exc.hint) from None
        base = Path(importer).parent if not importer.startswith("<") else Path.cwd()
        path = (base / item.path).resolve()
        if not path.is_file():
            raise SpecNameError(f"cannot import {item.path!r}: no such file {str(path)!r}", item.span)
        return path

    def enter(self, file: str) -> None:
        self._stack.append(Path(file).resolve() if not file.startswith("<") else Path(file))

    def leave(self) -> None:
        self._stack.pop()


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
        self.loader.enter(module.file)
        defaults: _Defaults = {}
        for item in module.items:
            if isinstance(item, sx.Defaults):
                defaults = self._extend_defaults(defaults, item)
        for item in module.items:
            if isinstance(item, sx.Import):
                self.lower_file_blocks_only(self.loader.load_import(item, module.file))
            elif isinstance(item, sx.BlockDef):
                self._add_block(item, defaults, module.file)
        self.loader.leave()
        return defaults

    def lower_file_blocks_only(self, module: sx.Module) -> None:
        for item in module.items:
            if isinstance(item, sx.ModelDecl | sx.Stage | sx.Head | sx.Aux):
                kind = {sx.ModelDecl: "model", sx.Stage: "stage", sx.Head: "head", sx.Aux: "aux"}[type(item)]
                raise SpecSyntaxError(
                    f"an imported file may only define blocks (and import, defaults), found a {kind}",
                    item.span,
                )
        self.lower_file(module)

    def _add_block(self, item: sx.BlockDef, defaults: _Defaults, file: str) -> None:
        check_identifier(item.name, item.span, "block")
        if item.name in LAYER_OPS:
            raise SpecNameError(f"block name {item.name!r} is a layer keyword", item.span)
        if item.name in self.blocks:
            first = self.blocks[item.name].span
            raise SpecNameError(f"block {item.name!r} is already defined at {first}", item.span)
        params = self._params(item.params, "block parameter")
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
        body = self._body(item.body, defaults, 0)
        self.blocks[item.name] = ir.BlockDef(item.name, item.span, params, body)
        self.block_files[item.name] = file

    def _params(self, params: tuple[sx.Param, ...], what: str) -> tuple[ir.Param, ...]:
        seen: set[str] = set()
        for p in params:
            check_identifier(p.name, p.span, what)
            if p.name in seen:
                raise SpecNameError(f"{what} {p.name!r} is declared twice", p.span)
            seen.add(p.name)
        return tuple(ir.Param(p.name, p.default, p.span) for p in params)

    # bodies --------------------------------------------------------------------------
    def _body(self, stmts: tuple[sx.Stmt, ...], defaults: _Defaults, depth: int) -> tuple[ir.Node, ...]:
        if depth > self.limits.max_depth:
            span = stmts[0].span if stmts else None
            raise SpecLimitError(f"nesting deeper than {self.limits.max_depth} levels", span)
        nodes: list[ir.Node] = []
        for stmt in stmts:
            if isinstance(stmt, sx.Defaults):
                defaults = self._extend_defaults(defaults, stmt)
            else:
                nodes.append(self._stmt(stmt, defaults, depth))
        return tuple(nodes)

    def _stmt(self, stmt: sx.Stmt, defaults: _Defaults, depth: int) -> ir.Node:
        match stmt:
            case sx.Layer():
                return self._layer(stmt, defaults)
            case sx.Call():
                return self._call(stmt)
            case sx.Concat(name, body, span):
                branches = []
                for i, child in enumerate(body):
                    if not isinstance(child, sx.Branch):
                        raise SpecSyntaxError("a concat holds only 'branch { ... }' items", child.span)
                    label = self._explicit(child.name, child.span) or f"branch{i}"
                    inner = self._body(child.body, defaults, depth + 1)
                    branches.append(ir.Branch(label, child.span, inner))
                if len(branches) < 2:
                    raise SpecArgumentError(f"a concat needs at least 2 branches, got {len(branches)}", span)
                return ir.Concat(self._explicit(name, span) or "concat", span, tuple(branches))
            case sx.Branch(span=span):
                raise SpecSyntaxError("'branch' is only allowed directly inside 'concat { ... }'", span)
            case sx.Residual(scale, name, body, span):
                inner = self._body(body, defaults, depth + 1)
                if not inner:
                    raise SpecArgumentError("a residual body is empty", span)
                return ir.Residual(self._explicit(name, span) or "residual", span, scale or ex.Num(1.0), inner)
            case sx.Repeat(count, name, body, span):
                inner = self._body(body, defaults, depth + 1)
                if not inner:
                    raise SpecArgumentError("a repeat body is empty", span)
                return ir.Repeat(self._explicit(name, span) or "repeat", span, count, inner)
        raise AssertionError(stmt)

    def _explicit(self, name: str | None, span: Span) -> str | None:
        if name is None:
            return None
        check_identifier(name, span, "layer")
        if name in RESERVED_MEMBERS or name in LAYER_OPS:
            raise SpecNameError(f"layer name {name!r} is reserved", span, f"try {name}_1")
        return name

    def _call(self, stmt: sx.Call) -> ir.Node:
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
        args = tuple((f"#{i}", v) for i, v in enumerate(positional)) + tuple(named.items())
        return ir.Call(self._explicit(stmt.name, stmt.span) or stmt.block, stmt.span, stmt.block, args)

    # layers and options ---------------------------------------------------------------
    def _layer(self, layer: sx.Layer, defaults: _Defaults) -> ir.Layer:
        spec = LAYER_OPS.get(layer.op)
        if spec is None:
            hint = _suggest(layer.op, [*LAYER_OPS, *self.blocks]) or f"known layers: {', '.join(LAYER_OPS)}"
            raise SpecNameError(f"unknown layer {layer.op!r}", layer.span, hint)
        values = dict(spec.defaults)
        for option in (*defaults.get(layer.op, ()), *layer.options):
            self._apply_option(layer.op, spec, option, values)
        self._positional(layer, spec, values)
        if spec.channels and layer.out is None:
            raise SpecArgumentError(f"{layer.op} needs output channels: '{layer.op} ... -> N'", layer.span)
        if not spec.channels and layer.out is not None:
            raise SpecArgumentError(f"{layer.op} takes no '-> channels'", layer.out.span or layer.span)
        name = self._explicit(layer.name, layer.span) or layer.op
        return _build_layer(layer, name, values)

    def _positional(self, layer: sx.Layer, spec: _OpSpec, values: dict[str, object]) -> None:
        if layer.positional is not None:
            if spec.positional is None:
                raise SpecArgumentError(f"{layer.op} takes no positional value", layer.positional.span)
            # `conv 3x3 -> 8 kernel 5`, `dropout 0.2 rate 0.5` (a kernel from `defaults` is overridden)
            if any(o.key == spec.positional for o in layer.options):
                raise SpecArgumentError(f"{spec.positional} given twice", layer.positional.span)
            values[spec.positional] = layer.positional
        if spec.positional and spec.positional not in values:
            example = "3x3" if spec.positional == "kernel" else "0.5"
            raise SpecArgumentError(f"{layer.op} needs a {spec.positional}: '{layer.op} {example}'", layer.span)

    def _apply_option(self, op: str, spec: _OpSpec, option: sx.Option, values: dict[str, object]) -> None:
        if option.value is None:
            if option.key not in spec.flags:
                raise _unknown_option(op, spec, option)
            key, value = _ON_OFF[option.key]
            values[key] = value
            if option.key in ("scale", "noscale"):
                values["bn"] = True
            return
        if option.key not in spec.valued:
            raise _unknown_option(op, spec, option)
        if option.key in ("eps", "momentum"):
            values["bn"] = True
        value = option.value
        if option.key == "pad" and isinstance(value, ex.Ref) and value.name in ("same", "valid"):
            value = ex.Str(value.name, value.span)
        values[option.key] = value

    def _extend_defaults(self, defaults: _Defaults, item: sx.Defaults) -> _Defaults:
        merged = dict(defaults)
        for rule in item.rules:
            spec = LAYER_OPS.get(rule.op)
            if spec is None:
                raise SpecNameError(f"unknown layer {rule.op!r} in defaults", rule.span, _suggest(rule.op, LAYER_OPS))
            for option in rule.options:  # validate now, so the error points at the rule
                self._apply_option(rule.op, spec, option, dict(spec.defaults))
            merged[rule.op] = (*merged.get(rule.op, ()), *rule.options)
        return merged


def _unknown_option(op: str, spec: _OpSpec, option: sx.Option) -> SpecNameError:
    known = sorted(spec.flags | spec.valued)
    hint = _suggest(option.key, known) or (f"{op} options: {', '.join(known)}" if known else f"{op} takes no options")
    if option.key in LAYER_OPS:  # `conv 1x1 -> 8 flatten`: a separator is missing
        hint = f"{option.key!r} is a layer: put a ';' or a line break before it"
    return SpecNameError(f"unknown option {option.key!r} for {op}", option.span, hint)


def _bn(values: dict[str, object]) -> ir.BatchNorm | None:
    if not values["bn"]:
        return None
    return ir.BatchNorm(values["eps"], values["momentum"], bool(values["scale"]))  # type: ignore[arg-type]


def _build_layer(layer: sx.Layer, name: str, v: dict[str, object]) -> ir.Layer:
    span, op = layer.span, layer.op
    match op:
        case "conv":
            return ir.Conv(
                name, span, v["kernel"], layer.out, v["stride"], v["pad"], v["dilation"], v["groups"],
                bool(v["bias"]), _bn(v), v["act"],
            )  # fmt: skip
        case "linear":
            return ir.Linear(name, span, layer.out, bool(v["bias"]), _bn(v), v["act"])  # type: ignore[arg-type]
        case "maxpool" | "avgpool":
            stride = v["stride"] if v["stride"] is not None else v["kernel"]
            return ir.Pool(name, span, op[:3], v["kernel"], stride, v["pad"], bool(v["ceil"]), bool(v["count_pad"]))  # type: ignore[arg-type]
        case "global_avgpool" | "global_maxpool":
            return ir.GlobalPool(name, span, op[7:10])
        case "dropout":
            return ir.Dropout(name, span, v["rate"])  # type: ignore[arg-type]
        case "flatten":
            return ir.Flatten(name, span)
        case "identity":
            return ir.Identity(name, span)
    return ir.Act(name, span, op)


# names -------------------------------------------------------------------------------


def _default_name(node: ir.Node) -> str:
    match node:
        case ir.Call(block=block):
            return block
        case ir.Concat():
            return "concat"
        case ir.Residual():
            return "residual"
        case ir.Repeat():
            return "repeat"
        case ir.Branch():
            return node.name
    return {"max": "maxpool", "avg": "avgpool"}.get(getattr(node, "kind", ""), _layer_keyword(node))


def _layer_keyword(node: ir.Node) -> str:
    match node:
        case ir.Conv():
            return "conv"
        case ir.Linear():
            return "linear"
        case ir.GlobalPool(kind=kind):
            return f"global_{kind}pool"
        case ir.Dropout():
            return "dropout"
        case ir.Flatten():
            return "flatten"
        case ir.Identity():
            return "identity"
        case ir.Act(fn=fn):
            return fn
    return ""


def _name_scope(body: tuple[ir.Node, ...]) -> tuple[ir.Node, ...]:
    """Give every node of one scope a unique name: `branch1_conv2`, `inception_3a`, ...

    Explicit names (`as x`) are kept verbatim and must be unique; generated names
    carry their branch path as a prefix and get a 1-based number when repeated.
    """
    wanted: list[tuple[ir.Node, str, bool]] = []

    def collect(nodes: tuple[ir.Node, ...], prefix: str) -> None:
        for node in nodes:
            explicit = node.name != _default_name(node)
            wanted.append((node, node.name if explicit else prefix + node.name, explicit))
            if isinstance(node, ir.Concat):
                for branch in node.branches:
                    collect(branch.body, f"{prefix}{branch.name}_")
            elif isinstance(node, ir.Residual):
                collect(node.body, prefix)

    collect(body, "")
    explicit_seen: dict[str, ir.Node] = {}
    for node, name, explicit in wanted:
        if explicit:
            if name in explicit_seen:
                raise SpecNameError(f"name {name!r} is used twice in this scope", node.span)
            explicit_seen[name] = node
    counts = Counter(name for _, name, explicit in wanted if not explicit)
    final: dict[int, str] = {}
    numbers: Counter[str] = Counter()
    for node, name, explicit in wanted:
        if not explicit and (counts[name] > 1 or name in explicit_seen):
            while True:
                numbers[name] += 1
                candidate = f"{name}{'_' if name[-1].isdigit() else ''}{numbers[name]}"
                if candidate not in explicit_seen and candidate not in counts:
                    break
            name = candidate
        final[id(node)] = name
    return _rename(body, final)


def _rename(body: tuple[ir.Node, ...], final: dict[int, str]) -> tuple[ir.Node, ...]:
    out = []
    for node in body:
        changes: dict[str, object] = {"name": final[id(node)]}
        if isinstance(node, ir.Concat):
            changes["branches"] = tuple(dataclasses.replace(b, body=_rename(b.body, final)) for b in node.branches)
        elif isinstance(node, ir.Residual):
            changes["body"] = _rename(node.body, final)
        elif isinstance(node, ir.Repeat):
            changes["body"] = _name_scope(node.body)
        out.append(dataclasses.replace(node, **changes))
    return tuple(out)


# calls ---------------------------------------------------------------------------------


def _resolve_calls(
    body: tuple[ir.Node, ...], blocks: dict[str, ir.BlockDef], arg_spans: dict[tuple[Span, str], Span] | None = None
) -> tuple[ir.Node, ...]:
    """Match each call's arguments to its block's parameters, in declaration order."""
    out = []
    for node in body:
        if isinstance(node, ir.Call):
            node = dataclasses.replace(node, args=_match_args(node, blocks, arg_spans or {}))
        elif isinstance(node, ir.Concat):
            branches = tuple(
                dataclasses.replace(b, body=_resolve_calls(b.body, blocks, arg_spans)) for b in node.branches
            )
            node = dataclasses.replace(node, branches=branches)
        elif isinstance(node, ir.Residual | ir.Repeat):
            node = dataclasses.replace(node, body=_resolve_calls(node.body, blocks, arg_spans))
        out.append(node)
    return tuple(out)


def _match_args(
    call: ir.Call, blocks: dict[str, ir.BlockDef], arg_spans: dict[tuple[Span, str], Span]
) -> tuple[tuple[str, ex.Expr], ...]:
    block = blocks.get(call.block)
    if block is None:
        hint = _suggest(call.block, blocks) or (f"defined blocks: {', '.join(blocks)}" if blocks else None)
        raise SpecNameError(f"unknown block {call.block!r}", call.span, hint)
    names = [p.name for p in block.params]
    positional = [v for k, v in call.args if k.startswith("#")]
    named = {k: v for k, v in call.args if not k.startswith("#")}
    if len(positional) > len(names):
        raise SpecArgumentError(
            f"{call.block}() takes {len(names)} argument(s), got {len(positional) + len(named)}",
            positional[len(names)].span or call.span,
            f"{call.block}({', '.join(names)})",
        )
    given = dict(zip(names, positional, strict=False))  # the rest are named or defaulted
    for key, value in named.items():
        where = arg_spans.get((call.span, key)) or value.span or call.span
        if key not in names:
            hint = _suggest(key, names) or f"{call.block}({', '.join(names)})"
            raise SpecNameError(f"{call.block}() has no parameter {key!r}", where, hint)
        if key in given:
            raise SpecArgumentError(f"{call.block}() got parameter {key!r} twice (positionally and by name)", where)
        given[key] = value
    for param in block.params:
        if param.name not in given:
            if param.default is None:
                raise SpecArgumentError(
                    f"{call.block}() is missing argument {param.name!r}", call.span, f"{call.block}({', '.join(names)})"
                )
            given[param.name] = param.default
    return tuple((p.name, given[p.name]) for p in block.params)


def _calls(body: tuple[ir.Node, ...]) -> list[ir.Call]:
    return [n for n in ir.walk(body) if isinstance(n, ir.Call)]


def _check_recursion(blocks: dict[str, ir.BlockDef]) -> None:
    # Depth-first search with an explicit stack: a chain of thousands of blocks, each using
    # the next, must not exhaust Python's recursion limit.
    state: dict[str, int] = {}  # 1 visiting, 2 done
    for root in blocks:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(_calls(blocks[root].body)))]
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
                stack.append((call.block, iter(_calls(blocks[call.block].body))))


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
    params = lowerer._params(decl.params, "model parameter")
    if "input" not in {p.name for p in params}:
        raise SpecArgumentError("the model needs an input shape: model name(input = 3x224x224)", decl.span)
    scopes = _scopes(module, lowerer, defaults)
    blocks = {
        name: dataclasses.replace(b, body=_name_scope(_resolve_calls(b.body, lowerer.blocks, lowerer.arg_spans)))
        for name, b in lowerer.blocks.items()
    }
    _check_recursion(blocks)
    spans = lowerer.arg_spans
    stages = tuple(dataclasses.replace(s, body=_name_scope(_resolve_calls(s.body, blocks, spans))) for s in scopes[0])
    auxes = tuple(dataclasses.replace(a, body=_name_scope(_resolve_calls(a.body, blocks, spans))) for a in scopes[1])
    warnings = _unused_blocks(blocks, [*stages, *auxes], lowerer.block_files, module.file)
    digest = loader.hash.hexdigest()[:16]
    return ir.Model(decl.name, module.file, digest, params, blocks, stages, auxes, warnings)


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
            stages.append(ir.Scope(name, item.span, lowerer._body(item.body, defaults, 0)))
        elif isinstance(item, sx.Aux):
            claim(item.name, item.span)
            weight = item.weight or ex.Num(0.3)
            auxes.append(ir.Aux(item.name, item.span, item.after, weight, lowerer._body(item.body, defaults, 0)))
    if not stages:
        raise SpecSyntaxError("the model has no stages", module.items[0].span if module.items else None)
    stage_names = [s.name for s in stages]
    for aux in auxes:
        src = next(i for i in module.items if isinstance(i, sx.Aux) and i.name == aux.name)
        if aux.after not in stage_names or aux.after == "head":
            readable = [n for n in stage_names if n != "head"]
            raise SpecNameError(
                f"aux head reads unknown stage {aux.after!r}", src.after_span, _suggest(aux.after, readable)
            )
    return stages, auxes


def _unused_blocks(blocks, scopes, files, main_file) -> tuple[tuple[str, Span], ...]:
    used = {c.block for s in scopes for c in _calls(s.body)}
    used |= {c.block for b in blocks.values() for c in _calls(b.body)}
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
