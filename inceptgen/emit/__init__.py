"""Checked IR -> standalone Python source, one small emitter per target (see `inceptgen.targets`)."""

from __future__ import annotations

from inceptgen.check import Checked
from inceptgen.errors import UnsupportedError
from inceptgen.targets import target as find_target

__all__ = ["emit"]


def emit(checked: Checked, target: str, source_name: str = "<spec>", optimize: bool = False) -> str:
    """Generate the module for `target`.

    Raises:
        InceptgenError: unknown target; UnsupportedError: the target cannot express a node,
            or has no `--optimize` build.
    """
    entry = find_target(target)
    if optimize and not entry.optimize:
        raise UnsupportedError(f"--optimize is not implemented for the {target} target")
    return entry.emitter_class()(checked, source_name, optimize).render()
