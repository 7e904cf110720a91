"""The language's vocabulary: every layer keyword, its options, defaults and shape rule, in one place.

`parse` takes the valued option names from here, `lower` the options and defaults,
`check` the shape and parameter rules, the emitters the activation names. Nothing
here imports any other stage of inceptgen.

Adding a layer kind is one `Op` in one of the modules below, one template macro per
target (`templates/<target>/ops.py.j2`) and one parity spec (see docs/architecture.md).
"""

from __future__ import annotations

from inceptgen.ops.activations import ACTIVATIONS, FUSABLE, Activation
from inceptgen.ops.base import Inferred, LayerContext, Op, Opt, Shape, fmt_shape
from inceptgen.ops.channels import CHANNELS
from inceptgen.ops.elementwise import ELEMENTWISE
from inceptgen.ops.kinds import Kind, Pads, division_hint
from inceptgen.ops.norm import NORM
from inceptgen.ops.pooling import POOLING
from inceptgen.ops.spatial import window, windows
from inceptgen.ops.weighted import WEIGHTED

__all__ = [
    "ACTIVATIONS",
    "FUSABLE",
    "OPS",
    "Activation",
    "Inferred",
    "Kind",
    "LayerContext",
    "Op",
    "Opt",
    "Pads",
    "Shape",
    "division_hint",
    "fmt_shape",
    "valued_options",
    "window",
    "windows",
]

#: Every layer keyword of the language, in the order the docs list them.
OPS: dict[str, Op] = {op.keyword: op for op in (*WEIGHTED, *POOLING, *NORM, *ELEMENTWISE, *CHANNELS)}


def valued_options() -> list[str]:
    """Every option written as `key value`, longest first (the grammar's OPTION_KEY)."""
    keys = {key for op in OPS.values() for key in op.valued}
    return sorted(keys, key=lambda k: (-len(k), k))
