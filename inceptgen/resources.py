"""Where the grammar, templates and spec library live, in a checkout or an installed wheel.

They sit at the top of the repository (`grammars/`, `templates/`, `specs/`) and the
package reaches them through symlinks of the same names inside `inceptgen/`; the wheel
stores real copies there. Either way `importlib.resources` finds them.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

__all__ = ["grammar_text", "templates_dir", "specs_dir"]


def _root() -> Traversable:
    return files("inceptgen")


def grammar_text() -> str:
    """The Lark grammar of the spec language."""
    return (_root() / "grammars" / "incept.lark").read_text(encoding="utf-8")


def templates_dir() -> Traversable:
    """The folder holding one subfolder of Jinja templates per target."""
    return _root() / "templates"


def specs_dir() -> Traversable:
    """The standard library of `.incept` specs."""
    return _root() / "specs"
