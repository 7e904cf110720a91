"""What every target generates: the scopes to render, their statements, variables and names.

A *scope* becomes one class (PyTorch) or one builder function (Keras): each block
definition the model reaches, each stage and aux head that is more than one block
use, the head, and the body of a `repeat` that is more than a single block call.
The statements of a scope are a small tree of `Stmt`s, each carrying the variables it
reads and writes; target emitters add their own values to each.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from inceptgen import expr as ex
from inceptgen import ir
from inceptgen.check import Checked, stage_block
from inceptgen.emit.values import std_applies
from inceptgen.names import Namespace, class_name
from inceptgen.ops import ACTIVATIONS

__all__ = ["Stmt", "ScopeView", "Scopes", "build_scopes", "walk_stmts", "TARGET_NAMES"]


@dataclass
class Stmt:
    """One statement of a scope's forward pass / functional graph.

    `inp` and `out` are variable names. `bodies` holds the statements of each child
    body by field (`body`, `shortcut`, `then`, ... and `branch0`, `branch1` for a
    concat), each reading `inp` and ending in the variable `outs[field]`.
    """

    node: ir.Node
    inp: str
    out: str
    bodies: dict[str, list[Stmt]] = field(default_factory=dict)
    outs: dict[str, str] = field(default_factory=dict)
    scope: ScopeView | None = None  # the scope of a multi-statement repeat body
    loop: str = ""  # a repeat's loop variable (its index's name in generated code)
    shape: tuple[int, ...] | None = None  # the checker's output shape, where every instance agrees
    values: dict[str, object] = field(default_factory=dict)  # filled by a target emitter

    @property
    def kind(self) -> str:
        """`conv`, `maxpool`, ... for a layer; `concat`, `residual`, `cond` (an if), ... for structure."""
        if isinstance(self.node, ir.Layer):
            return self.node.op
        return "cond" if isinstance(self.node, ir.If) else type(self.node).__name__.lower()

    @property
    def macro(self) -> str:
        """The template macro family: the kind, or `activation` for every activation without options."""
        return "activation" if self.kind in ACTIVATIONS else self.kind

    @property
    def branches(self) -> list[list[Stmt]]:
        return [body for key, body in self.bodies.items() if key.startswith("branch")]

    @property
    def branch_outs(self) -> list[str]:
        return [out for key, out in self.outs.items() if key.startswith("branch")]


@dataclass
class ScopeView:
    """One class / builder function of the generated module."""

    kind: str  # block | stage | head | aux | repeat
    spec_name: str
    class_name: str
    func_name: str
    params: list[tuple[str, str, ex.Expr | None]]  # (spec name, python name, default)
    stmts: list[Stmt]
    names: dict[str, str]  # spec name -> python name inside this scope
    uses_in_channels: bool
    doc: str
    values: dict[str, object] = field(default_factory=dict)  # filled by a target emitter
    space: Namespace = field(default_factory=Namespace, repr=False)  # the scope's local names

    def names_in(self, stmt: Stmt) -> dict[str, str]:
        """Spec name -> Python name for the expressions of `stmt` (a repeat's index included)."""
        node = stmt.node
        if isinstance(node, ir.Repeat) and node.index:
            return {**self.names, node.index: stmt.loop}
        return self.names


#: Module-level names the generated files import or define (both targets' helpers included):
#: no parameter, class or builder function may shadow them.
TARGET_NAMES = frozenset(
    {"torch", "nn", "F", "math", "keras", "layers", "build_model", "load_reference", "fold_batchnorm", "ACTIVATIONS"}
    | {"ConvNormAct", "LinearNormAct", "Pool2d", "Stack", "DropPath", "pad_same", "make_divisible", "pair"}
    | {"LayerNorm2d", "LayerScale", "Normalize", "channel_shuffle", "torch_pads", "spec_padding", "explicit_padding"}
    | {"LazyLayerNorm", "LazyLayerScale", "LazyNormalize", "init_weight", "initializer", "weight_settings"}
    | {"ChannelSlice", "GlobalPool", "dwconv_norm_act", "sepconv_norm_act", "SeparableConv2d", "LocalResponseNorm"}
    | {"conv_norm_act", "dense_norm_act", "pool2d", "window_padding", "Pad2D", "MaskedAveragePooling2D"}
    | {"np", "conv_act", "conv_split", "ChannelSplit"}  # the optimised Keras build's
)

#: Local variables of a generated scope (`x`, `x0`, `x2_1`, `r`, `s`, `g`, `x0_r`, loop index `i`).
_FLOW_VAR = re.compile(r"(x\d*|r|s|g)(_\d+|_r|_s|_g)*|i")


def _clear_of_locals(name: str) -> str:
    """A spec name that would read as one of the generated locals gets a trailing `_`."""
    return f"{name}_" if _FLOW_VAR.fullmatch(name) else name


def model_class_name(model: ir.Model) -> str:
    """The model's class (PyTorch): `inception_v3` -> `InceptionV3`, clear of the module's own names."""
    return Namespace(set(TARGET_NAMES) | set(model_param_names(model).values())).name(class_name(model.name))


def model_param_names(model: ir.Model) -> dict[str, str]:
    """Spec parameter -> Python keyword argument of `build_model` (`input` -> `input_shape`)."""
    reserved = {"self", "x", "name", "model", "in_channels", "inputs", "outputs", "aux_outputs", "input_shape"}
    space = Namespace(reserved | TARGET_NAMES)
    names = {p.name: space.name(_clear_of_locals(p.name)) for p in model.params if p.name != "input"}
    return {p.name: names.get(p.name, "input_shape") for p in model.params}


def _free_names(body: ir.Body) -> set[str]:
    """Every name the expressions of a body read in the generated code."""
    return {name for node in ir.walk(body) for e in _emitted_exprs(node) for name in ex.free_names(e)}


def _emitted_exprs(node: ir.Node) -> list[ex.Expr]:
    """A node's expressions but a `std` that no initialiser uses (the emitters leave it out)."""
    args = getattr(node, "args", None)
    weighted = args is not None and "std" in args and "init" in args
    dropped = args["std"] if weighted and not std_applies(args["init"]) else None
    return [e for e in ir.exprs(node) if e is not dropped]


def reachable_blocks(model: ir.Model) -> list[ir.BlockDef]:
    """The block definitions the model uses, directly or through other blocks, in definition order."""
    used: set[str] = set()
    pending = [n.block for s in (*model.stages, *model.auxes) for n in ir.walk(s.body) if isinstance(n, ir.Call)]
    while pending:
        name = pending.pop()
        if name not in used:
            used.add(name)
            pending += [n.block for n in ir.walk(model.block(name).body) if isinstance(n, ir.Call)]
    return [b for b in model.blocks.values() if b.name in used]


@dataclass
class Scopes:
    """The scopes of one generated module, and how the model assembles them."""

    views: list[ScopeView]
    #: stage / aux name -> the view it is built from (a block's, for a stage that is one block use)
    parts: dict[str, ScopeView]
    #: stage / aux name -> the arguments of the block it is, when it is one
    part_args: dict[str, ir.Args]


class _Builder:
    def __init__(self, checked: Checked) -> None:
        self.checked = checked
        self.model = checked.model
        self.views: list[ScopeView] = []
        self.shapes = _instance_shapes(checked)
        # Classes (PyTorch) and builder functions (Keras) share the module namespace with the
        # helpers and imports, and are used inside scopes whose parameters must not shadow them.
        self.model_names = model_param_names(self.model)
        block_params = {p.name for b in self.model.blocks.values() for p in b.params}
        block_params |= {r.index for n in self._all_nodes() if isinstance(r := n, ir.Repeat) and r.index}
        self.block_params = block_params | {f"{p}_" for p in block_params}
        # The model's own class comes first: scopes' classes keep clear of it.
        reserved = TARGET_NAMES | self.block_params | set(self.model_names.values()) | {model_class_name(self.model)}
        self.class_names = Namespace(reserved)
        self.func_names = Namespace(
            {"name", "x", "inputs", "outputs", "aux_outputs", "in_channels", "input_shape"}
            | TARGET_NAMES
            | self.block_params
            | set(self.model_names.values())
        )

    def _all_nodes(self) -> Iterator[ir.Node]:
        for block in self.model.blocks.values():
            yield from ir.walk(block.body)
        for scope in (*self.model.stages, *self.model.auxes):
            yield from ir.walk(scope.body)

    def view(self, kind: str, spec_name: str, params, body: ir.Body, doc: str, inherited=None) -> ScopeView:
        """A class / builder function taking `params` (new names) and `inherited` (names kept)."""
        inherited = dict(inherited or {})
        space = Namespace({"self", "x", "name", "in_channels", "r", "s", "g", *TARGET_NAMES, *inherited.values()})
        names = {"in.channels": "in_channels", **inherited}
        names.update({spec: space.name(_clear_of_locals(spec)) for spec, _ in params})
        own = [(spec, names[spec], default) for spec, default in params]
        view = ScopeView(
            kind,
            spec_name,
            self.class_names.name(class_name(spec_name), key=(kind, spec_name)),
            self.func_names.name(_clear_of_locals(spec_name), key=(kind, spec_name)),
            [*own, *((spec, py, None) for spec, py in inherited.items())],
            [],
            names,
            "in.channels" in _free_names(body),
            doc,
            space=space,
        )
        view.stmts = self.stmts(body, "x", "x", spec_name, view, top=True)
        self.views.append(view)
        return view

    def stmts(self, body: ir.Body, inp: str, var: str, owner: str, view: ScopeView, top: bool = False) -> list[Stmt]:
        """Statements of `body`: the first reads `inp`, every one writes the flow variable `var`."""
        out = []
        for node in body:
            stmt = Stmt(node, inp, var, shape=self.shapes.get(id(node)) if top else None)
            for key, child, child_var in self._children(node, var):
                stmt.bodies[key] = self.stmts(child, inp, child_var, owner, view)
                stmt.outs[key] = child_var if child else inp
            if isinstance(node, ir.Repeat):
                # Sibling loops share a variable; an index keeps its own name wherever it is used.
                stmt.loop = view.space.name(node.index or "i", key=("loop", node.index or "i"))
                if node.single_call is None:
                    stmt.scope = self._repeat_scope(node, owner, view)
            out.append(stmt)
            inp = var
        return out

    def _children(self, node: ir.Node, var: str) -> Iterator[tuple[str, ir.Body, str]]:
        """(key, body, flow variable) of each child body that is part of this scope."""
        if isinstance(node, ir.Concat):
            for i, branch in enumerate(node.branches):
                yield f"branch{i}", branch.body, f"x{i}" if var == "x" else f"{var}_{i}"
            return
        suffix = {"body": "r", "shortcut": "s"} if isinstance(node, ir.Residual) else {"body": "g"}
        for key, naming in ir.body_fields(node):
            if naming.scope:
                continue
            child_var = var if isinstance(node, ir.If) else suffix[key] if var == "x" else f"{var}_{suffix[key]}"
            yield key, getattr(node, key), child_var

    def _repeat_scope(self, node: ir.Repeat, owner: str, view: ScopeView) -> ScopeView:
        # The body is built with the enclosing scope's values, under the same Python names;
        # its copy's index (when named) is a parameter of its own.
        free = _free_names(node.body)
        inherited = {p: py for p, py in view.names.items() if p in free and p not in ("in.channels", node.index)}
        if "in.channels" in free:  # the enclosing block's input, not each copy's
            inherited["in.channels"] = "block_in_channels"
        params = [(node.index, None)] if node.index else []
        doc = f"One copy of `{owner}.{node.name}`."
        return self.view("repeat", f"{owner}_{node.name}", params, node.body, doc, inherited)

    def part(self, kind: str, scope: ir.Scope | ir.Aux, doc: str) -> ScopeView:
        """A stage, the head or an aux head: it takes the model parameters it reads, under build_model's names."""
        free = _free_names(scope.body)
        used = {p: self.model_names[p] for p in self.model_names if p in free}
        return self.view(kind, scope.name, [], scope.body, doc, used)


def _instance_shapes(checked: Checked) -> dict[int, tuple[int, ...]]:
    """IR node identity -> its output shape, for nodes all of whose instances have the same one."""
    shapes: dict[int, set[tuple[int, ...]]] = defaultdict(set)
    for info in checked.nodes:
        if info.op != "repeat copy":  # a copy's node is its repeat's
            shapes[id(info.node)].add(info.out_shape)
    return {key: next(iter(s)) for key, s in shapes.items() if len(s) == 1}


def build_scopes(checked: Checked) -> Scopes:
    """Every class / builder function of the generated module, in definition order."""
    builder = _Builder(checked)
    model = checked.model
    blocks: dict[str, ScopeView] = {}
    for block in reachable_blocks(model):
        params = [(p.name, p.default) for p in block.params]
        signature = ", ".join(p.name if p.default is None else f"{p.name}={ex.render(p.default)}" for p in block.params)
        blocks[block.name] = builder.view(
            "block", block.name, params, block.body, f"Block `{block.name}({signature})`."
        )
    parts: dict[str, ScopeView] = {}
    part_args: dict[str, ir.Args] = {}
    for kind, scope in [
        *(("head" if s.name == "head" else "stage", s) for s in model.stages),
        *(("aux", a) for a in model.auxes),
    ]:
        call = stage_block(scope)
        if call is not None:  # the stage is that block: no class of its own
            parts[scope.name], part_args[scope.name] = blocks[call.block], call.args
            continue
        doc = {
            "head": "The classifier head.",
            "stage": f"Stage `{scope.name}`.",
            "aux": f"Auxiliary head `{scope.name}` on the output of `{getattr(scope, 'after', '')}`.",
        }[kind]
        parts[scope.name] = builder.part(kind, scope, doc)
    return Scopes(builder.views, parts, part_args)


def walk_stmts(stmts: list[Stmt]) -> Iterator[Stmt]:
    """Every statement of a scope, nested bodies included (repeat scopes excluded), in order."""
    for stmt in stmts:
        yield stmt
        for body in stmt.bodies.values():
            yield from walk_stmts(body)
