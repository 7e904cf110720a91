"""The standard library of specs shipped with inceptgen (`@inception_v3`)."""

from __future__ import annotations

from pathlib import Path

from inceptgen.errors import InceptgenError
from inceptgen.resources import specs_dir

__all__ = ["list_libraries", "list_specs", "resolve_spec_path", "stdlib_path"]


def list_specs() -> list[str]:
    """Names of every stdlib spec, sorted."""
    return sorted(p.name[: -len(".incept")] for p in specs_dir().iterdir() if p.name.endswith(".incept"))


def list_libraries() -> list[str]:
    """Names of the shipped block libraries (`lib/resnet_blocks`), for `import "@lib/..."`."""
    lib = specs_dir() / "lib"
    return sorted(f"lib/{p.name[: -len('.incept')]}" for p in lib.iterdir() if p.name.endswith(".incept"))


def stdlib_path(name: str) -> Path:
    """The file of stdlib spec `name`, or of a block library `lib/name`.

    Raises:
        InceptgenError: no such spec (the message lists the ones there are).
    """
    parts = name.split("/")
    plain = all(part.replace("_", "").isalnum() for part in parts)  # no `..`, no absolute path
    candidate = specs_dir().joinpath(*parts).with_name(f"{parts[-1]}.incept") if plain else None
    if candidate is None or len(parts) > 2 or not candidate.is_file():
        known = ", ".join([*list_specs(), *list_libraries()])
        raise InceptgenError(f"no spec named @{name} in the library", hint=f"available: {known}")
    return Path(str(candidate))


def resolve_spec_path(arg: str) -> Path:
    """`@name` -> the stdlib file; anything else is a path."""
    return stdlib_path(arg[1:]) if arg.startswith("@") else Path(arg)
