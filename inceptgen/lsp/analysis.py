"""One document, checked as `inceptgen check` checks a file: what the language server knows of it.

Pure Python over the front end (parse, lower, check): no pygls, no frameworks, and the
user's text is only ever parsed. A document without a `model` and without stages is taken
as a library of blocks (as `specs/lib/*.incept` are): its blocks are lowered as an import
would lower them, so their errors show while it is edited, instead of the "no model"
error `check` gives for a file that is not a main spec.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path

from inceptgen import expr as ex
from inceptgen import ir
from inceptgen import syntax as sx
from inceptgen.check import Checked, check
from inceptgen.errors import InceptgenError, Span
from inceptgen.limits import Limits
from inceptgen.loader import Loader
from inceptgen.lower import lower
from inceptgen.stdlib import stdlib_path

__all__ = ["Analysis", "Diagnostic", "analyse", "normalise"]

ERROR = "error"
WARNING = "warning"
#: The name of the model a library document is lowered under (never shown).
_LIBRARY_MODEL = "library"


@dataclass(frozen=True)
class Diagnostic:
    """An error or warning, where `check` would report it (`span` None: the top of the file)."""

    severity: str
    message: str
    span: Span | None
    hint: str | None = None


@dataclass
class Analysis:
    """What one version of a document is: its syntax tree, IR and checked nodes, as far as they go."""

    text: str
    file: str
    module: sx.Module | None = None
    model: ir.Model | None = None
    checked: Checked | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def library(self) -> bool:
        return self.model is not None and self.model.name == _LIBRARY_MODEL and self.checked is None


def normalise(text: str) -> str:
    """The text as the loader decodes a file: line ends as LF, no byte-order mark."""
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def analyse(text: str, file: str, limits: Limits = Limits()) -> Analysis:
    """Parse, lower and check `text` as the file `file` (imports are read relative to it).

    Never raises for anything in the text: errors become diagnostics, and so does a bug in
    inceptgen (as an internal error), so that the server stays up.
    """
    result = Analysis(normalise(text), file)
    try:
        _run(result, limits)
    except InceptgenError as err:
        result.diagnostics.append(_located(err, result))
    except Exception as err:  # noqa: BLE001 - the server must outlive any bug (RecursionError included)
        message = f"internal error: {type(err).__name__}: {err}"
        hint = "this is a bug in inceptgen; `inceptgen --debug check FILE` shows the traceback"
        result.diagnostics.append(Diagnostic(ERROR, message, None, hint))
        traceback.print_exc()  # to the server's stderr: the editor's output panel
    return result


def _run(result: Analysis, limits: Limits) -> None:
    loader = Loader(limits, stdlib_path)
    result.module = loader.load_text(result.text, result.file)
    if _is_library(result.module):
        result.model = lower(_as_main(result.module), loader)
        return  # a library's blocks are unused by design: no warnings about that
    result.model = lower(result.module, loader)
    result.diagnostics.extend(Diagnostic(WARNING, message, span) for message, span in result.model.warnings)
    result.checked = check(result.model, {}, limits)


def _is_library(module: sx.Module) -> bool:
    main_items = sx.ModelDecl | sx.Variant | sx.Stage | sx.Head | sx.Aux
    return not any(isinstance(item, main_items) for item in module.items)


def _as_main(module: sx.Module) -> sx.Module:
    """A library document as the main spec of a model with nothing but a head, to lower its blocks."""
    where = Span(module.file, 1, 1)
    decl = sx.ModelDecl(_LIBRARY_MODEL, (sx.Param("input", ex.Size((1, 1, 1)), where),), where)
    head = sx.Head((sx.Layer("flatten", None, None, (), None, where),), where)
    return sx.Module(module.file, (*module.items, decl, head))


def _located(err: InceptgenError, result: Analysis) -> Diagnostic:
    """An error as a diagnostic of this document: one in an imported file is shown on its import."""
    span = err.span
    if span is None or _same_file(span.file, result.file):
        return Diagnostic(ERROR, err.message, span, err.hint)
    where = _import_naming(span.file, result)
    return Diagnostic(ERROR, f"{span}: {err.message}", where, err.hint)


def _import_naming(file: str, result: Analysis) -> Span | None:
    """The import of this document that leads to `file` (itself, or the first import when it is deeper)."""
    imports = [item for item in result.module.items if isinstance(item, sx.Import)] if result.module else []
    base = Path(result.file).parent
    for item in imports:
        if not item.path.startswith("@") and _same_file(str(base / item.path), file):
            return item.span
    return imports[0].span if imports else None


def _same_file(a: str, b: str) -> bool:
    if a == b:
        return True
    if a.startswith("<") or b.startswith("<"):
        return False
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, RuntimeError):
        return False
