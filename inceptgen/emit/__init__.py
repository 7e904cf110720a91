"""Checked IR -> standalone Python source, one small emitter per target."""

from __future__ import annotations

from inceptgen.check import Checked
from inceptgen.errors import InceptgenError, UnsupportedError

__all__ = ["emit", "TARGETS"]

TARGETS = ("torch", "keras")


def emit(checked: Checked, target: str, source_name: str = "<spec>", optimize: bool = False) -> str:
    """Generate the module for `target`.

    Raises:
        InceptgenError: unknown target; UnsupportedError: the target cannot express a node.
    """
    if target == "torch":
        from inceptgen.emit.torch import TorchEmitter as Emitter
    elif target == "keras":
        if optimize:
            # XLA / grappler already fold batch-norm; the torch rewrites have no Keras counterpart yet.
            raise UnsupportedError("--optimize is implemented for the torch target only")
        from inceptgen.emit.keras import KerasEmitter as Emitter
    else:
        raise InceptgenError(f"unknown target {target!r}", hint=f"targets: {', '.join(TARGETS)}")
    return Emitter(checked, source_name, optimize).render()
