"""What every emitter shares: scopes, typed values, the dispatch on node types, the header.

A target's emitter is a subclass holding a dispatch table from IR node types (and, for
layers, vocabulary keywords) to small handlers that put typed values on each statement,
plus one template macro per entry. A node without a handler, or a handler without its
macro, is an `UnsupportedError` carrying the node's span: never silently missing code.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from inceptgen import __version__, ir
from inceptgen import expr as ex
from inceptgen.check import Checked
from inceptgen.emit.render import HEADER_MARK, environment, format_source
from inceptgen.emit.scopes import ScopeView, Stmt, build_scopes, model_param_names, walk_stmts
from inceptgen.emit.values import Py, const
from inceptgen.errors import InceptgenError, UnsupportedError
from inceptgen.resources import specs_dir

__all__ = ["Emitter", "Handler"]

Handler = Callable[..., Any]


class Emitter:
    """Renders one target from its templates; subclasses prepare the values.

    Attributes:
        target: the registry name of the target (see `inceptgen.targets`).
        HANDLERS: IR node type or layer keyword -> handler filling `stmt.values`.
    """

    target: ClassVar[str] = ""
    HANDLERS: ClassVar[Mapping[type | str, Handler]] = {}

    def __init__(self, checked: Checked, source_name: str, optimize: bool = False) -> None:
        self.checked = checked
        self.model = checked.model
        self.source_name = Path(source_name).name if not source_name.startswith("<") else source_name
        self.source_arg = _source_arg(source_name)
        self.optimize = optimize
        self.scopes = build_scopes(checked)
        self.views: list[ScopeView] = self.scopes.views
        self.param_names = model_param_names(self.model)
        self._macros = environment().get_template(f"{self.target}/ops.py.j2").module

    # ------------------------------------------------------------------ dispatch
    def handler(self, stmt: Stmt) -> Handler:
        """The handler of a statement's node; refuse a node this target cannot express."""
        key: type | str = stmt.node.op if isinstance(stmt.node, ir.Layer) else type(stmt.node)
        handler = self.HANDLERS.get(key)
        if handler is None or not hasattr(self._macros, self.macro_name(stmt)):
            what = f"layer {key!r}" if isinstance(key, str) else f"{key.__name__.lower()} statements"
            raise UnsupportedError(f"the {self.target} target cannot express {what}", stmt.node.span)
        return handler

    def macro_name(self, stmt: Stmt) -> str:
        """The template macro that writes a statement (one per vocabulary keyword and structure)."""
        return stmt.macro

    # ------------------------------------------------------------------ values
    def py(self, e: ex.Expr, view: ScopeView | None = None, stmt: Stmt | None = None, precedence: int = 0) -> Py:
        """An expression as code inside `view` (or `build_model` when None); constants folded."""
        names = self.param_names if view is None else (view.names_in(stmt) if stmt else view.names)
        return Py.of(e, names.__getitem__, precedence)

    def window(self, e: ex.Expr, view: ScopeView, stmt: Stmt | None = None) -> Py:
        """A kernel, stride or dilation: `3` for a constant square 3x3, `(1, 7)` otherwise."""
        value = self.py(e, view, stmt)
        if (
            value.known
            and isinstance(value.value, tuple)
            and len(value.value) == 2
            and value.value[0] == value.value[1]
        ):
            return const(value.value[0])
        return value

    def annotation(self, default: ex.Expr | None) -> str:
        """The type of a block parameter: that of its default, else int (channel counts)."""
        folded = ex.evaluate(default, {}) if default is not None else None
        return type(folded).__name__ if isinstance(folded, int | float | bool | str) else "int"

    def model_params(self) -> list[dict[str, str]]:
        """`build_model`'s keyword arguments with the checked values as defaults."""
        out = []
        for p in self.model.params:
            value = self.checked.env[p.name]
            kind = {tuple: "tuple[int, int, int]", int: "int", float: "float", str: "str", bool: "bool"}[type(value)]
            out.append({"name": self.param_names[p.name], "annotation": kind, "default": repr(value)})
        return out

    # ------------------------------------------------------------------ module
    def all_exprs(self) -> Iterator[ex.Expr]:
        """Every expression the generated module writes."""
        for view in self.views:
            for stmt in walk_stmts(view.stmts):
                yield from ir.exprs(stmt.node)
            for _, _, default in view.params:
                if default is not None:
                    yield default
        for stage in self.model.stages:
            if stage.body and isinstance(stage.body[0], ir.Call):
                yield from stage.body[0].args.values()

    def functions_used(self) -> set[str]:
        return {name for e in self.all_exprs() for name in ex.functions_used(e)}

    def needs_math(self) -> bool:
        return any("math" in ex.FUNCTIONS[name].imports for name in self.functions_used())

    def header(self) -> dict[str, str]:
        """The first lines' values: where the file came from and the command that regenerates it."""
        given = _given_values(self.model, self.checked.env, self.checked.variant)
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in given.items())
        command = [self.source_arg, "--target", self.target]
        if self.checked.variant:
            shown = f"variant {self.checked.variant}" + (f", {shown}" if shown else "")
            command += ["--variant", self.checked.variant]
        command += [arg for k, v in given.items() for arg in ("--set", f"{k}={_fmt(v)}")]
        if self.optimize:
            command.append("--optimize")
        return {
            "mark": HEADER_MARK,
            "version": __version__,
            "source": _comment_safe(self.source_name),
            "hash": self.model.source_hash,
            "overrides": _comment_safe(shown),
            "command": _comment_safe(shlex.join(["inceptgen", "compile", *command])),
        }

    def prepare(self, stmts: list[Stmt], view: ScopeView) -> None:
        """Fill every statement's values (bodies included)."""
        for stmt in stmts:
            stmt.values.update(self.handler(stmt)(self, stmt, view) or {})
            for body in stmt.bodies.values():
                self.prepare(body, view)

    def template_values(self) -> dict[str, object]:
        raise NotImplementedError

    def render(self) -> str:
        template = environment().get_template(f"{self.target}/module.py.j2")
        return format_source(template.render(**self.template_values()))


def _source_arg(source_name: str) -> str:
    """How a user names the spec on the command line: `@name` for the library's, else the file name."""
    path = Path(source_name)
    if path.suffix == ".incept" and path.parent.resolve() == specs_dir().resolve():
        return f"@{path.stem}"
    return path.name if not source_name.startswith("<") else source_name


def _comment_safe(text: str) -> str:
    """User-named text in a generated comment: one line, nothing that could end the comment."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _fmt(value: ex.Value) -> str:
    """A value as a spec (and `--set`) writes it: `3x32x32`, `true`, `"relu"`."""
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    if isinstance(value, bool):
        return str(value).lower()
    return f'"{value}"' if isinstance(value, str) else str(value)


def _given_values(model: ir.Model, env: Mapping[str, ex.Value], variant: str | None) -> dict[str, ex.Value]:
    """The parameter values `--set` gave: those the spec (with its variant) would not compute."""
    chosen = next((v for v in model.variants if v.name == variant), None)
    given = {}
    for param in model.params:
        written = chosen.values[param.name] if chosen and param.name in chosen.values else param.default
        try:
            natural = ex.evaluate(written, env) if written is not None else None  # earlier values are final
        except InceptgenError:
            natural = None
        if natural != env[param.name] or type(natural) is not type(env[param.name]):
            given[param.name] = env[param.name]
    return given
