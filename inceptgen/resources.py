"""Where the grammar, templates and spec library live, in a checkout or an installed wheel.

They sit at the top of the repository (`grammars/`, `templates/`, `specs/`) and the
package reaches them through symlinks of the same names inside `inceptgen/`; the wheel
stores real copies there. Either way they are files beside this module, and the stdlib
and the emitters already treat spec paths as files (`Path.with_name`, `Path.resolve`), so a
plain path is all the package needs: `importlib.resources.files` would import zipfile and
its readers on every run, 3 ms of a `check`.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["grammar_text", "templates_dir", "specs_dir"]

_ROOT = Path(__file__).parent


def grammar_text() -> str:
    """The Lark grammar of the spec language."""
    return (_ROOT / "grammars" / "incept.lark").read_text(encoding="utf-8")


def templates_dir() -> Path:
    """The folder holding one subfolder of Jinja templates per target."""
    return _ROOT / "templates"


def specs_dir() -> Path:
    """The standard library of `.incept` specs."""
    return _ROOT / "specs"
