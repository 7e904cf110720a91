"""What both emitters share: scopes to render, variable names, parameter names.

A *scope* becomes one class (PyTorch) or one builder function (Keras): each block
definition, each stage, the head, each aux head, and the body of a `repeat` that
is more than a single block call. The statements of a scope are turned into a
small tree of `Stmt`s carrying the variable each reads and writes; targets only
add their own rendering of values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from inceptgen import expr as ex
from inceptgen import ir
from inceptgen.check import Checked
from inceptgen.names import Namespace, class_name

__all__ = ["Stmt", "ScopeView", "scope_views", "constant", "model_class_name", "model_param_names"]


@dataclass
class Stmt:
    """One statement of a scope's forward pass / functional graph.

    `inp` and `out` are variable names. A concat has `branches` (one statement list
    per branch, each ending in the variable listed in `branch_outs`); a residual has
    `body` ending in `body_out`.
    """

    node: ir.Node
    inp: str
    out: str
    branches: list[list[Stmt]] = field(default_factory=list)
    branch_outs: list[str] = field(default_factory=list)
    body: list[Stmt] = field(default_factory=list)
    body_out: str = ""
    scope: ScopeView | None = None  # the anonymous scope of a multi-statement repeat
    comment: str = ""
    values: dict[str, object] = field(default_factory=dict)  # filled by a target emitter

    @property
    def kind(self) -> str:
        return type(self.node).__name__.lower()


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


#: Module-level names the generated files import or define (both targets' helpers included):
#: no parameter, class or builder function may shadow them.
_TARGET_NAMES = frozenset(
    {"torch", "nn", "F", "math", "keras", "layers", "build_model", "load_reference", "fold_batchnorm", "ACTIVATIONS"}
    | {"ConvNormAct", "LinearNormAct", "pad_same", "trim_ceil_windows", "Pad2d"}
    | {"conv_norm_act", "dense_norm_act", "window_padding", "Pad2D", "MaskedAveragePooling2D"}
)

#: Local variables of a generated scope (`x`, `x0`, `x2_1`, `r`, `x0_r`, loop index `i`).
_FLOW_VAR = re.compile(r"(x\d*|r)(_\d+|_r)*|i")


def _clear_of_locals(name: str) -> str:
    """A spec name that would read as one of the generated locals gets a trailing `_`."""
    return f"{name}_" if _FLOW_VAR.fullmatch(name) else name


def constant(e: ex.Expr) -> ex.Value | None:
    """The value of an expression that reads no names, else None."""
    return None if ex.free_names(e) else ex.evaluate(e, {})


def model_class_name(model: ir.Model) -> str:
    """The model's class (PyTorch): `inception_v3` -> `InceptionV3`, clear of the module's own names."""
    return Namespace(set(_TARGET_NAMES)).name(class_name(model.name))


def model_param_names(model: ir.Model) -> dict[str, str]:
    """Spec parameter -> Python keyword argument of `build_model` (`input` -> `input_shape`)."""
    reserved = {"self", "x", "name", "model", "in_channels", "inputs", "outputs", "aux_outputs", "input_shape"}
    space = Namespace(reserved | _TARGET_NAMES)
    names = {p.name: space.name(_clear_of_locals(p.name)) for p in model.params if p.name != "input"}
    return {p.name: names.get(p.name, "input_shape") for p in model.params}


def _free_params(body: tuple[ir.Node, ...], known: set[str]) -> list[str]:
    """Model parameters a stage-like scope reads, in parameter order."""
    used: set[str] = set()
    for node in ir.walk(body):
        for value in vars(node).values():
            if isinstance(value, ex.Expr.__args__):  # type: ignore[attr-defined]
                used |= ex.free_names(value)
            elif isinstance(value, ir.BatchNorm):
                used |= ex.free_names(value.eps) | ex.free_names(value.momentum)
        if isinstance(node, ir.Call):
            for _, arg in node.args:
                used |= ex.free_names(arg)
    return [name for name in known if name in used]


def _uses_in_channels(body: tuple[ir.Node, ...]) -> bool:
    for node in ir.walk(body):
        exprs = [v for v in vars(node).values() if isinstance(v, ex.Expr.__args__)]  # type: ignore[attr-defined]
        if isinstance(node, ir.Call):
            exprs += [a for _, a in node.args]
        if any("in.channels" in ex.free_names(e) for e in exprs):
            return True
    return False


class _Builder:
    def __init__(self, checked: Checked) -> None:
        self.checked = checked
        self.model = checked.model
        self.views: list[ScopeView] = []
        # Classes (PyTorch) and builder functions (Keras) share the module namespace with the
        # helpers and imports, and are used inside scopes whose parameters must not shadow them.
        self.model_names = model_param_names(self.model)
        block_params = {p.name for b in self.model.blocks.values() for p in b.params}
        self.block_params = block_params | {f"{p}_" for p in block_params}
        # The model's own class comes first: scopes' classes keep clear of it.
        reserved = _TARGET_NAMES | self.block_params | set(self.model_names.values()) | {model_class_name(self.model)}
        self.class_names = Namespace(reserved)
        self.func_names = Namespace(
            {"name", "x", "inputs", "outputs", "aux_outputs", "in_channels", "input_shape"}
            | _TARGET_NAMES
            | set(self.model_names.values())
        )

    def view(
        self,
        kind: str,
        spec_name: str,
        params,
        body,
        doc: str,
        shape_of: Callable[[str], str] | None,
        inherited: dict[str, str] | None = None,
    ) -> ScopeView:
        space = Namespace({"self", "x", "name", "in_channels", "r", *_TARGET_NAMES})
        names = {"in.channels": "in_channels", **(inherited or {})}
        names.update({spec: space.name(_clear_of_locals(spec)) for spec, _ in params})
        py_params = [(spec, names[spec], default) for spec, default in params]
        view = ScopeView(
            kind,
            spec_name,
            self.class_names.name(class_name(spec_name), key=(kind, spec_name)),
            self.func_names.name(self._func_wanted(kind, spec_name), key=(kind, spec_name)),
            py_params,
            [],
            names,
            _uses_in_channels(body),
            doc,
        )
        view.stmts = self.stmts(body, "x", "x", spec_name, view, shape_of)
        self.views.append(view)
        return view

    def _func_wanted(self, kind: str, spec_name: str) -> str:
        wanted = _clear_of_locals(spec_name)
        called_from_blocks = kind in ("block", "repeat")
        return f"{wanted}_" if called_from_blocks and wanted in self.block_params else wanted

    def stmts(self, body, inp: str, var: str, owner: str, view: ScopeView, shape_of) -> list[Stmt]:
        """Statements of `body`: the first reads `inp`, every one writes the flow variable `var`."""
        out = []
        for node in body:
            stmt = Stmt(node, inp, var)
            if isinstance(node, ir.Concat):
                for i, branch in enumerate(node.branches):
                    bvar = f"x{i}" if var == "x" else f"{var}_{i}"
                    stmt.branches.append(self.stmts(branch.body, inp, bvar, owner, view, None))
                    stmt.branch_outs.append(bvar if branch.body else inp)
            elif isinstance(node, ir.Residual):
                stmt.body_out = "r" if var == "x" else f"{var}_r"
                stmt.body = self.stmts(node.body, inp, stmt.body_out, owner, view, None)
            elif isinstance(node, ir.Repeat) and node.single_call is None:
                # The body is called with the enclosing scope's values, under the same Python names
                # (known before the body is built: a repeat nested in it passes them on).
                free = _free_params(node.body, set(view.names) - {"in.channels"})
                inherited = {p: view.names[p] for p in free}
                doc = f"One copy of `{owner}.{node.name}`."
                stmt.scope = self.view("repeat", f"{owner}_{node.name}", [], node.body, doc, None, inherited)
                stmt.scope.params = [(p, py, None) for p, py in inherited.items()]
            if shape_of is not None:
                stmt.comment = shape_of(node.name)
            out.append(stmt)
            inp = var
        return out


def _shape_comment(checked: Checked, prefix: str) -> Callable[[str], str]:
    shapes = {n.path: n.out_shape for n in checked.nodes}

    def comment(name: str) -> str:
        shape = shapes.get(f"{prefix}.{name}")
        return " x ".join(map(str, shape)) if shape else ""

    return comment


def _model_scope(builder: _Builder, kind: str, name: str, body, doc: str, shape_of) -> None:
    """A stage, the head or an aux head: it takes the model parameters it reads, under build_model's names."""
    used = {p: builder.model_names[p] for p in _free_params(body, set(builder.model_names))}
    view = builder.view(kind, name, [], body, doc, shape_of, used)
    view.params = [(p, py, None) for p, py in used.items()]


def scope_views(checked: Checked) -> list[ScopeView]:
    """Every class / builder function of the generated module, in definition order."""
    builder = _Builder(checked)
    model = checked.model
    for block in model.blocks.values():
        params = [(p.name, p.default) for p in block.params]
        signature = ", ".join(p.name if p.default is None else f"{p.name}={ex.render(p.default)}" for p in block.params)
        builder.view("block", block.name, params, block.body, f"Block `{block.name}({signature})`.", None)
    for stage in model.stages:
        kind = "head" if stage.name == "head" else "stage"
        doc = "The classifier head." if kind == "head" else f"Stage `{stage.name}`."
        _model_scope(builder, kind, stage.name, stage.body, doc, _shape_comment(checked, stage.name))
    for aux in model.auxes:
        doc = f"Auxiliary head `{aux.name}` on the output of `{aux.after}`."
        _model_scope(builder, "aux", aux.name, aux.body, doc, _shape_comment(checked, aux.name))
    return builder.views
