"""inceptgen: an architecture DSL and code generator for multi-branch CNNs.

A `.incept` spec describes an Inception-style network as blocks, branches and
stages; inceptgen checks its shapes and emits readable PyTorch or Keras code.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__", "load", "Spec", "InceptgenError"]

from inceptgen.api import Spec, load  # noqa: E402
from inceptgen.errors import InceptgenError  # noqa: E402
