"""The standard library of specs shipped with inceptgen (`@inception_v3`)."""

from __future__ import annotations

from pathlib import Path

from inceptgen.errors import InceptgenError
from inceptgen.resources import specs_dir

__all__ = ["list_specs", "stdlib_path", "resolve_spec_path"]


def list_specs() -> list[str]:
    """Names of every stdlib spec, sorted."""
    return sorted(p.name[: -len(".incept")] for p in specs_dir().iterdir() if p.name.endswith(".incept"))


def stdlib_path(name: str) -> Path:
    """The file of stdlib spec `name`.

    Raises:
        InceptgenError: no such spec (the message lists the ones there are).
    """
    candidate = specs_dir() / f"{name}.incept"
    if not name.replace("_", "").isalnum() or not candidate.is_file():
        raise InceptgenError(f"no spec named @{name} in the library", hint=f"available: {', '.join(list_specs())}")
    return Path(str(candidate))


def resolve_spec_path(arg: str) -> Path:
    """`@name` -> the stdlib file; anything else is a path."""
    return stdlib_path(arg[1:]) if arg.startswith("@") else Path(arg)
