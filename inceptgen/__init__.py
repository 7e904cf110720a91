"""inceptgen: an architecture DSL and code generator for CNNs built from blocks, branches and stages.

A `.incept` spec describes a network as blocks, branches and stages; inceptgen checks its
shapes and emits readable PyTorch or Keras code. `inceptgen.load(...)` is the entry point;
it is imported on first use, so that `import inceptgen.parse` loads the parser alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"
__all__ = ["__version__", "load", "Spec", "InceptgenError"]

if TYPE_CHECKING:
    from inceptgen.api import Spec, load
    from inceptgen.errors import InceptgenError


def __getattr__(name: str) -> Any:
    if name in ("load", "Spec"):
        from inceptgen import api

        return getattr(api, name)
    if name == "InceptgenError":
        from inceptgen.errors import InceptgenError

        return InceptgenError
    raise AttributeError(f"module 'inceptgen' has no attribute {name!r}")
